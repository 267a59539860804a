"""COCO / OV-COCO / LVIS readers on fake trees, detection transforms, synthetic detection data."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ovperception.datasets import (CocoDetDataset, DatasetNotFoundError, LVISDetDataset,
                                   OVCOCODataset, SyntheticDetDataset, load_classnames)
from ovperception.datasets.base import ClassnamesError
from ovperception.datasets.detection_transforms import LoadDetAnnotations, PackOVDetInputs
from ovperception.datasets.synthetic_detection import make_synthetic_detection_sample
from ovperception.datasets.transforms import LoadImageFromFile

COCO80 = [entry.split(';')[0].strip() for entry in load_classnames('coco_object')[1:]]


def _write_tree(root, categories, annotations, images=None, name='instances_val2017.json',
                image_key='file_name'):
    (root / 'annotations').mkdir(parents=True, exist_ok=True)
    (root / 'val2017').mkdir(exist_ok=True)
    images = images or [dict(id=42, height=20, width=30), dict(id=7, height=20, width=30)]
    for image in images:
        file_name = f'{image["id"]:012d}.jpg'
        Image.fromarray(np.full((20, 30, 3), 128, np.uint8)).save(root / 'val2017' / file_name)
        image[image_key] = (file_name if image_key == 'file_name'
                            else f'http://images.cocodataset.org/val2017/{file_name}')
    (root / 'annotations' / name).write_text(json.dumps(dict(
        images=images, annotations=annotations, categories=categories)))
    return f'annotations/{name}'


def _ann(ann_id, image_id, category_id, bbox, iscrowd=0):
    x, y, w, h = bbox
    return dict(id=ann_id, image_id=image_id, category_id=category_id, bbox=bbox,
                area=w * h, iscrowd=iscrowd,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]])


def test_coco_reader_labels_ids_crowds_and_tiny_boxes(tmp_path):
    categories = [dict(id=18, name='dog'), dict(id=3, name='car'), dict(id=1, name='person')]
    annotations = [_ann(1, 42, 18, [2, 3, 10, 8]), _ann(2, 42, 1, [0, 0, 4, 4], iscrowd=1),
                   _ann(3, 42, 3, [5, 5, 0.5, 6]),  # thinner than min_size: dropped
                   _ann(4, 7, 99, [1, 1, 5, 5])]   # unknown category: ignored
    ann_file = _write_tree(tmp_path, categories, annotations)
    dataset = CocoDetDataset(ann_file, data_root=str(tmp_path), data_prefix=dict(img='val2017/'),
                             test_mode=True)
    assert dataset.classnames == ['person', 'car', 'dog']  # category-id order
    assert dataset.metainfo['cat_ids'] == [1, 3, 18]
    record = dataset.get_data_info(0)
    assert record['img_id'] == 42 and record['img_path'].endswith('val2017/000000000042.jpg')
    assert [(i['bbox'], i['bbox_label'], i['ignore_flag']) for i in record['instances']] == [
        ([2.0, 3.0, 12.0, 11.0], 2, 0), ([0.0, 0.0, 4.0, 4.0], 0, 1)]
    assert dataset.get_data_info(1)['instances'] == []
    training = CocoDetDataset(ann_file, data_root=str(tmp_path), filter_empty=True,
                              data_prefix=dict(img='val2017/'))
    assert len(training) == 1  # image 7 has no annotation of a known category


def test_pipeline_loads_boxes_and_masks_into_gt_instances(tmp_path):
    ann_file = _write_tree(tmp_path, [dict(id=5, name='cat')], [_ann(1, 42, 5, [2, 4, 10, 6])])
    dataset = CocoDetDataset(ann_file, data_root=str(tmp_path), data_prefix=dict(img='val2017/'),
                             test_mode=True, pipeline=[dict(type='LoadImageFromFile'),
                                                       dict(type='LoadDetAnnotations',
                                                            with_mask=True),
                                                       dict(type='PackOVDetInputs')])
    packed = dataset[0]
    sample = packed['data_samples']
    assert packed['inputs'].shape == (3, 20, 30)
    assert sample.metainfo['img_id'] == 42 and sample.metainfo['classnames'] == ['cat']
    gt = sample.gt_instances
    assert gt.bboxes.tolist() == [[2.0, 4.0, 12.0, 10.0]] and gt.labels.tolist() == [0]
    assert gt.masks.shape == (1, 20, 30) and gt.masks[0].sum().item() == 60
    assert gt.ignore_flags.tolist() == [False]
    empty = dataset.get_data_info(1)
    for step in (LoadImageFromFile(), LoadDetAnnotations(with_mask=True)):
        empty = step(empty)
    assert empty['gt_bboxes'].shape == (0, 4) and empty['gt_masks'].shape == (0, 20, 30)
    assert len(PackOVDetInputs()(empty)['data_samples'].gt_instances) == 0


def test_ov_coco_splits_and_metainfo(tmp_path):
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(COCO80)]
    annotations = [_ann(1, 42, COCO80.index('dog') + 1, [1, 1, 5, 5]),
                   _ann(2, 42, COCO80.index('person') + 1, [1, 1, 5, 5]),
                   _ann(3, 42, COCO80.index('dining table') + 1, [1, 1, 5, 5])]
    ann_file = _write_tree(tmp_path, categories, annotations)
    kwargs = dict(data_root=str(tmp_path), data_prefix=dict(img='val2017/'), test_mode=True)
    full = OVCOCODataset(ann_file, **kwargs)
    base = OVCOCODataset(ann_file, split='base', **kwargs)
    novel = OVCOCODataset(ann_file, split='novel', **kwargs)
    assert (len(full.classnames), len(base.classnames), len(novel.classnames)) == (65, 48, 17)
    assert full.classnames == base.classnames + novel.classnames
    assert len(full.metainfo['base_classes']) == 48 and 'cat' in full.metainfo['novel_classes']
    labels = sorted(i['bbox_label'] for i in full.get_data_info(0)['instances'])
    assert [full.classnames[k] for k in labels] == ['person', 'dog']  # table is not in OV-COCO
    assert [i['bbox_label'] for i in base.get_data_info(0)['instances']] == [0]
    assert full.metainfo['cat_ids'][full.classnames.index('dog')] == COCO80.index('dog') + 1
    with pytest.raises(ValueError, match='split'):
        OVCOCODataset(ann_file, split='rare', **kwargs)


def test_ov_coco_split_files_hold_the_standard_48_17():
    base, novel = load_classnames('ov_coco_base'), load_classnames('ov_coco_novel')
    assert len(base) == 48 and len(novel) == 17 and not set(base) & set(novel)
    assert set(base + novel) <= set(COCO80)
    assert set(novel) == {'airplane', 'bus', 'cat', 'dog', 'cow', 'elephant', 'umbrella', 'tie',
                          'snowboard', 'skateboard', 'cup', 'knife', 'cake', 'couch', 'keyboard',
                          'sink', 'scissors'}


def test_lvis_reader_frequencies_and_coco_url(tmp_path):
    categories = [dict(id=1, name='aerosol_can', frequency='c'),
                  dict(id=2, name='alligator', frequency='r'),
                  dict(id=3, name='apple', frequency='f')]
    ann_file = _write_tree(tmp_path, categories, [_ann(1, 42, 2, [1, 1, 4, 4])],
                           name='lvis_v1_val.json', image_key='coco_url')
    dataset = LVISDetDataset(ann_file, data_root=str(tmp_path), test_mode=True)
    assert dataset.classnames == ['aerosol can', 'alligator', 'apple']
    assert dataset.metainfo['frequencies'] == ('c', 'r', 'f')
    assert dataset.metainfo['novel_classes'] == ('alligator',)
    assert dataset.get_data_info(0)['img_path'].endswith('val2017/000000000042.jpg')


def test_missing_and_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match='instances_val2017.json'):
        CocoDetDataset('annotations/instances_val2017.json', data_root=str(tmp_path))
    ann_file = _write_tree(tmp_path, [dict(id=1, name='cat')], [])
    with pytest.raises(ClassnamesError, match='zebra'):
        CocoDetDataset(ann_file, data_root=str(tmp_path), category_names=['cat', 'zebra'])
    (tmp_path / 'annotations' / 'broken.json').write_text('{not json')
    with pytest.raises(ValueError, match='not valid JSON'):
        CocoDetDataset('annotations/broken.json', data_root=str(tmp_path))


def test_synthetic_detection_boxes_are_exact_and_deterministic():
    a = make_synthetic_detection_sample(3, seed=1, num_classes=4)
    b = make_synthetic_detection_sample(3, seed=1, num_classes=4)
    for key in ('img', 'bboxes', 'labels', 'masks'):
        np.testing.assert_array_equal(a[key], b[key])
    assert 3 % 4 in a['labels'].tolist()
    for box, mask in zip(a['bboxes'], a['masks']):
        rows, cols = np.nonzero(mask)
        assert box.tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    assert not (a['masks'].sum(axis=0) > 1).any()  # objects never overlap
    dataset = SyntheticDetDataset(num_samples=2, pipeline=[dict(type='PackOVDetInputs')])
    sample = dataset[1]['data_samples']
    assert sample.metainfo['img_id'] == 2 and sample.metainfo['classnames'] == [
        'red square', 'green circle', 'blue triangle']
    assert sample.gt_instances.masks.dtype == torch.bool
    with pytest.raises(ValueError, match='cells'):
        make_synthetic_detection_sample(0, grid=(1, 2), max_objects=3)


@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_det_random_flip_keeps_boxes_masks_and_pixels_together(direction):
    from ovperception.datasets.detection_transforms import DetRandomFlip
    from ovperception.datasets.synthetic_detection import mask_to_xyxy
    dataset = SyntheticDetDataset(num_samples=1, num_classes=3)
    record = dataset.get_data_info(0)
    original = {k: np.array(record[k]) for k in ('img', 'gt_bboxes', 'gt_masks')}
    flipped = DetRandomFlip(prob=1.0, direction=direction)(record)
    assert flipped['flip'] and flipped['flip_direction'] == direction
    for box, mask in zip(flipped['gt_bboxes'], flipped['gt_masks']):
        assert box.tolist() == mask_to_xyxy(mask).tolist()
    axis = 1 if direction == 'horizontal' else 0
    np.testing.assert_array_equal(flipped['img'], np.flip(original['img'], axis=axis))
    np.testing.assert_array_equal(flipped['gt_masks'], np.flip(original['gt_masks'], axis=axis + 1))
    twice = DetRandomFlip(prob=1.0, direction=direction)(flipped)
    np.testing.assert_allclose(twice['gt_bboxes'], original['gt_bboxes'])
    packed = PackOVDetInputs()(twice)['data_samples'].gt_instances
    assert torch.equal(packed.masks, torch.from_numpy(original['gt_masks']))
