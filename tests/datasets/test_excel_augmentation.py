"""ExCEL's training augmentation (zwyang6/ExCEL ``VOC12ClsDataset.__transforms``) with our
``RandomResize`` / ``RandomFlip`` / ``RandomCrop`` options, against the official functions'
outputs (``tests/fixtures/golden/excel/augmentation.npz``, NOTE_data.md) with their random draws
replayed, plus known-answer cases."""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import pytest

from ovperception.datasets.transforms import RandomCrop, RandomFlip, RandomResize

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'golden', 'excel',
                       'augmentation.npz')


def excel_augmentation(crop: int, ratio_range: tuple[float, float] = (0.5, 2.0)) -> list:
    """The official order: random_scaling, random_fliplr, random_crop (black / 255 padding)."""
    return [RandomResize(scale=None, ratio_range=ratio_range, backend='pillow'),
            RandomFlip(prob=0.5),
            RandomCrop(crop, cat_max_ratio=0.75, max_tries=10, pad=True)]


class Replay:
    """Stand-ins for ``np.random.uniform / rand / randint`` that return the official draws."""

    def __init__(self, names: np.ndarray, values: np.ndarray) -> None:
        self.uniform = iter(v for n, v in zip(names, values) if n == 'uniform')
        # official: flip when random.random() > 0.5; ours: when np.random.rand() < 0.5
        self.flip = iter(1.0 - v for n, v in zip(names, values) if n == 'random')
        # pad offsets (np.random.randint), then crop starts (random.randrange)
        self.ints: Iterator[float] = iter(v for n, v in zip(names, values)
                                          if n in ('np_randint', 'randrange'))
        self.count = sum(1 for n in names if n in ('np_randint', 'randrange'))
        self.used = 0

    def randint(self, *args: int) -> int:
        self.used += 1
        value = int(next(self.ints))
        high = args[-1] if len(args) > 1 else args[0]
        assert 0 <= value < high
        return value


@pytest.mark.parametrize('case', range(4))
def test_augmentation_reproduces_the_official_functions(case: int, monkeypatch) -> None:
    data = np.load(FIXTURE)
    get = lambda key: data[f'case{case}_{key}']  # noqa: E731
    replay = Replay(get('draw_names'), get('draw_values'))
    monkeypatch.setattr(np.random, 'uniform', lambda *a: next(replay.uniform))
    monkeypatch.setattr(np.random, 'rand', lambda *a: next(replay.flip))
    monkeypatch.setattr(np.random, 'randint', replay.randint)
    results = dict(img=get('img').copy(), gt_seg_map=get('label').astype(np.int64))
    transforms = excel_augmentation(int(get('crop')))
    results = transforms[0](results)
    assert results['img'].shape == tuple(get('scaled_shape'))
    for transform in transforms[1:]:
        results = transform(results)
    assert replay.used == replay.count  # the same number of draws, in the same order
    np.testing.assert_array_equal(results['img'], get('out_img'))
    np.testing.assert_array_equal(results['gt_seg_map'], get('out_label'))


def test_scaling_without_bound_uses_int_of_ratio_times_size() -> None:
    resize = RandomResize(scale=None, ratio_range=(0.75, 0.75), backend='pillow')
    out = resize(dict(img=np.zeros((41, 30, 3), np.uint8),
                      gt_seg_map=np.full((41, 30), 300, np.int64)))
    assert out['img'].shape == (30, 22, 3)  # int(0.75 * 41), int(0.75 * 30)
    assert out['gt_seg_map'].dtype == np.int64 and (out['gt_seg_map'] == 300).all()
    assert RandomResize(scale=None).target_size(10, 20, 1.5) == (15, 30)


def test_crop_pads_black_at_the_offset_and_labels_255() -> None:
    np.random.seed(0)
    img = np.full((10, 6, 3), 200, np.uint8)
    label = np.ones((10, 6), np.int64)
    out = RandomCrop(16, pad=True)(dict(img=img, gt_seg_map=label))
    top, left = out['pad_offset']
    assert out['img'].shape == (16, 16, 3) and out['gt_seg_map'].shape == (16, 16)
    inside = np.zeros((16, 16), bool)
    inside[top:top + 10, left:left + 6] = True
    assert (out['img'][inside] == 200).all() and (out['img'][~inside] == 0).all()
    assert (out['gt_seg_map'][inside] == 1).all() and (out['gt_seg_map'][~inside] == 255).all()


def test_crop_retries_until_no_class_dominates() -> None:
    label = np.zeros((40, 40), np.int64)
    label[24:] = 5  # accepted crops start on rows 13..19 (5..11 rows of class 5)
    np.random.seed(3)
    out = RandomCrop(16, cat_max_ratio=0.75, max_tries=50)(
        dict(img=np.zeros((40, 40, 3), np.uint8), gt_seg_map=label))
    _, counts = np.unique(out['gt_seg_map'], return_counts=True)
    assert len(counts) == 2 and counts.max() / counts.sum() < 0.75


def test_crop_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match='max_tries'):
        RandomCrop(16, max_tries=0)
    with pytest.raises(ValueError, match='backend'):
        RandomResize(backend='skimage')
