"""COCO-panoptic reader on a fake tree, synthetic panoptic data, panoptic-aware transforms,
large-vocabulary readers."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ovperception.datasets import (ADE20KFullDataset, ClassnamesError, COCOPanopticDataset,
                                   DatasetNotFoundError, LoadPanopticAnnotations,
                                   PascalContext459Dataset, SyntheticPanopticDataset,
                                   load_classnames)
from ovperception.datasets.transforms import (PackOVInputs, RandomCrop, RandomFlip,
                                              RandomResize)
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID, panoptic_labels


def _fake_coco(root, categories, classnames=None):
    """One 6x4 image: segment 1 (cat 10, thing), 2 (cat 10, crowd), 3 (cat 20, stuff)."""
    os.makedirs(root / 'val2017')
    os.makedirs(root / 'annotations' / 'panoptic_val2017')
    Image.new('RGB', (6, 4), (1, 2, 3)).save(root / 'val2017' / 'a.jpg')
    ids = np.zeros((4, 6), np.int64)
    ids[:2, :2] = 1
    ids[:2, 4:] = 2
    ids[2:] = 3 + 256  # encoded in R and G
    rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
    Image.fromarray(rgb).save(root / 'annotations' / 'panoptic_val2017' / 'a.png')
    content = dict(images=[dict(id=7, file_name='a.jpg', height=4, width=6)],
                   annotations=[dict(image_id=7, file_name='a.png', segments_info=[
                       dict(id=1, category_id=10, iscrowd=0),
                       dict(id=2, category_id=10, iscrowd=1),
                       dict(id=259, category_id=20, iscrowd=0)])],
                   categories=categories)
    (root / 'annotations' / 'panoptic_val2017.json').write_text(json.dumps(content))
    return COCOPanopticDataset(data_root=str(root), classnames=classnames or ['cat', 'grass'],
                               pipeline=[dict(type='LoadImageFromFile'),
                                         dict(type=LoadPanopticAnnotations),
                                         dict(type=PackOVInputs)])


CATEGORIES = [dict(id=20, name='grass', isthing=0), dict(id=10, name='cat', isthing=1)]


def test_coco_panoptic_fake_tree_decodes_segments(tmp_path):
    dataset = _fake_coco(tmp_path, CATEGORIES)
    assert dataset.metainfo['is_thing'] == [True, False]  # category-id order: 10, then 20
    item = dataset[0]
    sample = item['data_samples']
    pan = sample.gt_panoptic_seg.data[0].numpy()
    sem = sample.gt_sem_seg.data[0].numpy()
    assert pan[0, 0] == 0 + INSTANCE_OFFSET      # cat instance 1
    assert pan[0, 4] == VOID and sem[0, 4] == 0  # crowd: void for PQ, class for mIoU
    assert pan[3, 0] == 1 and sem[3, 0] == 1     # stuff
    assert pan[0, 2] == VOID and sem[0, 2] == 255  # unlabelled
    assert sample.metainfo['is_thing'] == [True, False]
    assert item['inputs'].shape == (3, 4, 6)


def test_coco_panoptic_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='3 classes'):
        _fake_coco(tmp_path / 'a', CATEGORIES, classnames=['cat', 'grass', 'dog'])
    with pytest.raises(FileNotFoundError, match='panoptic_val2017.json'):
        COCOPanopticDataset(data_root=str(tmp_path / 'missing'))


def test_shipped_class_lists_load():
    coco = load_classnames('coco_panoptic')
    assert len(coco) == 133 and coco[0].startswith('person') and coco[-1] == 'rug'
    assert len(load_classnames('context459')) == 459


def test_synthetic_panoptic_sample_is_consistent_with_its_semantic_map():
    dataset = SyntheticPanopticDataset(num_samples=3, image_size=(32, 48), max_shapes=3)
    for index in range(3):
        info = dataset.get_data_info(index)
        assert (panoptic_labels(info['gt_panoptic_map']) == info['gt_seg_map']).all()
        assert info['is_thing'] == [False, True, True, True]


def test_geometric_transforms_move_the_panoptic_map_with_the_image():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, (20, 30))
    results = dict(img=np.stack([label] * 3, -1).astype(np.uint8), gt_seg_map=label.copy(),
                   gt_panoptic_map=label * INSTANCE_OFFSET + label)
    np.random.seed(1)
    results = RandomResize((40, 20), (0.5, 1.5))(results)  # nearest for both label maps
    assert results['gt_seg_map'].shape != label.shape
    assert (results['gt_panoptic_map'] % INSTANCE_OFFSET == results['gt_seg_map']).all()
    results['img'] = np.stack([results['gt_seg_map']] * 3, -1).astype(np.uint8)
    for transform in (RandomCrop((12, 17)), RandomFlip(prob=1.0)):
        results = transform(results)
        assert (results['gt_panoptic_map'] % INSTANCE_OFFSET == results['gt_seg_map']).all()
        assert (results['img'][..., 0] == results['gt_seg_map']).all()
    packed = PackOVInputs()(results)['data_samples']
    assert packed.gt_panoptic_seg.data.shape == packed.gt_sem_seg.data.shape


def test_large_vocabulary_readers_read_uint16_tifs(tmp_path):
    (tmp_path / 'JPEGImages').mkdir()
    (tmp_path / 'annotations_detectron2' / 'pc459_val').mkdir(parents=True)
    Image.new('RGB', (5, 3)).save(tmp_path / 'JPEGImages' / 'x.jpg')
    label = np.full((3, 5), 458, np.uint16)
    label[0, 0] = 65535
    Image.fromarray(label).save(tmp_path / 'annotations_detectron2' / 'pc459_val' / 'x.tif')
    dataset = PascalContext459Dataset(
        data_root=str(tmp_path), ignore_index=65535,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadSegAnnotations', ignore_index=65535), dict(type=PackOVInputs)])
    gt = dataset[0]['data_samples'].gt_sem_seg.data
    assert gt[0, 0, 0] == 65535 and gt[0, 2, 4] == 458
    with pytest.raises(ClassnamesError, match='classnames_file'):
        ADE20KFullDataset(data_root=str(tmp_path))
