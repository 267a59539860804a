"""Transforms: mmseg resize rule, label loading, training augmentations, packing."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ovperception.datasets.transforms import (LoadImageFromFile, LoadSegAnnotations,
                                              PackOVInputs, RandomCrop, RandomFlip,
                                              RandomResize, ResizeShortSide, reduce_zero_label,
                                              rescale_size)
from ovperception.registry import TRANSFORMS
from ovperception.structures import OVDataSample


@pytest.mark.parametrize('hw, scale, expected', [
    ((375, 500), (2048, 336), (336, 448)),     # VOC, factor 0.896
    ((512, 683), (2048, 336), (336, 448)),     # int(683 * 0.65625 + 0.5) = int(448.72)
    ((333, 500), (2048, 336), (336, 505)),     # int(504.50 + 0.5) rounds up
    ((1024, 2048), (2048, 560), (560, 1120)),  # Cityscapes
    ((100, 10000), (2048, 336), (20, 2048)),   # long-side bound wins
    ((375, 500), (336, 2048), (336, 448)),     # bound order does not matter
])
def test_rescale_size_known_answers(hw, scale, expected):
    assert rescale_size(*hw, scale)[:2] == expected


def test_resize_short_side_image_only():
    results = dict(img=np.zeros((375, 500, 3), np.uint8), gt_seg_map=np.zeros((375, 500), np.int64))
    out = ResizeShortSide(336, max_long_side=2048)(results)
    assert out['img'].shape == (336, 448, 3) and out['img_shape'] == (336, 448)
    assert out['gt_seg_map'].shape == (375, 500)
    assert out['scale_factor'] == pytest.approx((336 / 375, 448 / 500))
    plain = ResizeShortSide(100)(dict(img=np.zeros((50, 400, 3), np.uint8)))
    assert plain['img'].shape == (100, 800, 3)


def test_resize_is_bilinear():
    img = np.zeros((2, 2, 3), np.uint8)
    img[:, 1] = 200
    out = ResizeShortSide(4)(dict(img=img))['img']
    assert 0 < out[0, 1, 0] < 200  # interpolated, not nearest


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_random_resize_backends_share_the_bookkeeping(backend):
    """Both backends: bilinear image, nearest label maps of both keys (dtype kept), and the
    same shape keys; Pillow casts a float image to uint8 (ExCEL) even at the same size,
    OpenCV leaves an unresized one untouched."""
    img = np.arange(4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3) + 0.7
    seg = np.array([[0, 0, 1, 1, 2, 2]] * 4, np.int64)
    panoptic = (seg * 1000).astype(np.int32)
    out = RandomResize(scale=None, ratio_range=(2.0, 2.0), backend=backend)(
        dict(img=img.copy(), gt_seg_map=seg, gt_panoptic_map=panoptic))
    assert out['img'].shape == (8, 12, 3) and out['img_shape'] == (8, 12)
    assert out['scale_factor'] == (2.0, 2.0) and out['keep_ratio'] is True
    assert out['img'].dtype == (np.uint8 if backend == 'pillow' else np.float32)
    np.testing.assert_array_equal(out['gt_seg_map'], np.repeat(np.repeat(seg, 2, 0), 2, 1))
    assert out['gt_seg_map'].dtype == np.int64 and out['gt_panoptic_map'].dtype == np.int32
    np.testing.assert_array_equal(out['gt_panoptic_map'], out['gt_seg_map'] * 1000)
    same = RandomResize(scale=None, ratio_range=(1.0, 1.0), backend=backend)(dict(img=img))
    expected = img.astype(np.uint8) if backend == 'pillow' else img
    np.testing.assert_array_equal(same['img'], expected)
    assert same['img'].dtype == expected.dtype


def test_reduce_zero_label():
    label = np.array([0, 1, 2, 255, 254])
    np.testing.assert_array_equal(reduce_zero_label(label), [255, 0, 1, 255, 253])


def _write_label(tmp_path, values) -> str:
    path = str(tmp_path / 'label.png')
    img = Image.fromarray(np.asarray(values, np.uint8), 'P')
    img.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    img.save(path)
    return path


def test_load_annotations_follows_dataset_flag(tmp_path):
    path = _write_label(tmp_path, [[0, 1], [2, 255]])
    plain = LoadSegAnnotations()(dict(seg_map_path=path))
    assert plain['gt_seg_map'].dtype == np.int64
    np.testing.assert_array_equal(plain['gt_seg_map'], [[0, 1], [2, 255]])
    reduced = LoadSegAnnotations()(dict(seg_map_path=path, reduce_zero_label=True))
    np.testing.assert_array_equal(reduced['gt_seg_map'], [[255, 0], [1, 255]])
    forced = LoadSegAnnotations(reduce_zero_label=True)(dict(seg_map_path=path))
    np.testing.assert_array_equal(forced['gt_seg_map'], [[255, 0], [1, 255]])


def test_load_annotations_passes_in_memory_labels():
    label = np.ones((2, 2), np.int64)
    assert LoadSegAnnotations()(dict(seg_map_path=None, gt_seg_map=label))['gt_seg_map'] is label
    with pytest.raises(KeyError, match='neither'):
        LoadSegAnnotations()(dict(seg_map_path=None))


def test_load_image_sets_shapes(tmp_path):
    path = str(tmp_path / 'img.png')
    Image.new('L', (5, 3)).save(path)
    out = LoadImageFromFile()(dict(img_path=path))
    assert out['img'].shape == (3, 5, 3) and out['ori_shape'] == (3, 5) == out['img_shape']


def test_random_resize_crop_flip_keep_labels_aligned():
    np.random.seed(0)
    img = np.zeros((40, 60, 3), np.uint8)
    label = np.zeros((40, 60), np.int64)
    img[:, 30:] = 255
    label[:, 30:] = 7
    out = RandomResize(scale=(120, 80), ratio_range=(1.0, 1.0))(dict(img=img, gt_seg_map=label))
    assert out['img'].shape[:2] == out['gt_seg_map'].shape == (80, 120)
    assert set(np.unique(out['gt_seg_map'])) == {0, 7}  # nearest: no new labels
    out = RandomCrop((32, 48), cat_max_ratio=0.75)(out)
    assert out['img'].shape[:2] == out['gt_seg_map'].shape == (32, 48) == out['img_shape']
    out = RandomFlip(prob=1.0)(out)
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    pure = (out['img'][..., 0] == 0) | (out['img'][..., 0] == 255)  # off the blended edge
    np.testing.assert_array_equal((out['img'][..., 0] == 255)[pure], (out['gt_seg_map'] == 7)[pure])
    assert pure.mean() > 0.9


def test_random_crop_smaller_image_is_not_padded():
    out = RandomCrop(64)(dict(img=np.zeros((10, 20, 3), np.uint8)))
    assert out['img'].shape == (10, 20, 3)


def test_pack_shapes_and_meta():
    results = dict(img=np.random.randint(0, 255, (6, 8, 3), dtype=np.uint8),
                   gt_seg_map=np.ones((12, 16), np.int64), img_path='a.jpg',
                   ori_shape=(12, 16), img_shape=(6, 8), scale_factor=(0.5, 0.5),
                   classnames=['a', 'b; c'], unrelated=1)
    packed = PackOVInputs()(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 6, 8)
    assert torch.equal(inputs, torch.from_numpy(results['img']).permute(2, 0, 1))
    assert isinstance(sample, OVDataSample)
    gt = sample.gt_sem_seg.data
    assert gt.shape == (1, 12, 16) and gt.dtype == torch.long
    assert sample.classnames == ['a', 'b; c'] and sample.img_path == 'a.jpg'
    assert sample.ori_shape == (12, 16) and 'unrelated' not in sample.metainfo
    assert 'gt_sem_seg' not in PackOVInputs()(dict(img=results['img']))['data_samples']


def test_registry_builds_every_transform():
    for cfg in (dict(type='LoadImageFromFile'), dict(type='LoadSegAnnotations'),
                dict(type='ResizeShortSide', short_side=336, max_long_side=2048),
                dict(type='RandomResize', scale=(2048, 512)), dict(type='RandomCrop', crop_size=8),
                dict(type='RandomFlip', prob=0.5), dict(type='PackOVInputs')):
        transform = TRANSFORMS.build(cfg)
        assert type(transform).__name__ == cfg['type'] and cfg['type'] in repr(transform)
