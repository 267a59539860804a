"""Tests of ovperception.utils.annotations: RLE, semantic annotations, label PNGs, COCO."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from ovperception.utils.annotations import (LABEL_PNG_ENCODING, instances_to_coco,
                                            label_map_to_png_array, load_label_png,
                                            mask_to_polygons, mask_to_rle,
                                            png_array_to_label_map, rle_to_mask,
                                            save_label_png, sem_seg_to_annotation,
                                            to_coco_dataset)


@pytest.mark.parametrize('shape', [(1, 1), (7, 13), (32, 32), (50, 3)])
def test_rle_round_trip_random(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    for density in (0.1, 0.5, 0.9):
        mask = rng.random(shape) < density
        rle = mask_to_rle(mask)
        assert rle['size'] == list(shape)
        assert isinstance(rle['counts'], str)
        np.testing.assert_array_equal(rle_to_mask(rle), mask)
        assert int(mask_util.area({'size': rle['size'], 'counts': rle['counts'].encode()})) \
            == int(mask.sum())


@pytest.mark.parametrize('fill', [False, True])
def test_rle_round_trip_empty_and_full(fill: bool) -> None:
    mask = np.full((9, 11), fill)
    decoded = rle_to_mask(mask_to_rle(mask))
    assert decoded.dtype == bool and decoded.shape == (9, 11)
    np.testing.assert_array_equal(decoded, mask)


def test_rle_accepts_bytes_uncompressed_and_tensors() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:5] = True
    rle = mask_to_rle(torch.from_numpy(mask))
    np.testing.assert_array_equal(rle_to_mask({**rle, 'counts': rle['counts'].encode()}), mask)
    # uncompressed RLE: column-major run lengths starting with zeros
    flat = mask.flatten(order='F').astype(int)
    runs, current, length = [], 0, 0
    for value in flat:
        if value == current:
            length += 1
        else:
            runs.append(length)
            current, length = value, 1
    runs.append(length)
    np.testing.assert_array_equal(rle_to_mask({'size': [4, 5], 'counts': runs}), mask)


def test_label_png_round_trip_small_vocabulary(tmp_path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 20, (17, 23))
    labels[:3] = 255
    png = label_map_to_png_array(labels)
    assert png.dtype == np.uint8
    assert png[0, 0] == 0 and (png[3:] == labels[3:] + 1).all() and png.max() <= 20
    np.testing.assert_array_equal(png_array_to_label_map(png), labels)
    path = tmp_path / 'labels' / 'a.png'
    save_label_png(path, labels[None])
    np.testing.assert_array_equal(load_label_png(path), labels)


def test_label_png_round_trip_many_classes(tmp_path) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 1000, (16, 16))
    labels[0, :4] = -1
    png = label_map_to_png_array(labels, ignore_index=-1, num_classes=1000)
    assert png.dtype == np.uint16 and png.max() <= 1000
    np.testing.assert_array_equal(png_array_to_label_map(png, ignore_index=-1), labels)
    path = tmp_path / 'big.png'
    save_label_png(path, labels, ignore_index=-1, num_classes=1000)
    np.testing.assert_array_equal(load_label_png(path, ignore_index=-1), labels)


def test_label_png_dtype_follows_vocabulary_size() -> None:
    labels = np.zeros((2, 2), np.int64)
    assert label_map_to_png_array(labels, num_classes=254).dtype == np.uint8
    assert label_map_to_png_array(labels, num_classes=255).dtype == np.uint16
    assert label_map_to_png_array(np.full((2, 2), 253)).dtype == np.uint8
    assert label_map_to_png_array(np.full((2, 2), 254), ignore_index=-1).dtype == np.uint16
    with pytest.raises(ValueError):
        label_map_to_png_array(np.full((2, 2), 5), num_classes=5)
    with pytest.raises(ValueError):
        label_map_to_png_array(np.full((2, 2), -3))


def _hand_made_map() -> np.ndarray:
    return np.array([
        [0, 0, 1, 1, 255, 255],
        [0, 0, 1, 1, 255, 255],
        [2, 2, 2, 1, 1, 255],
        [2, 2, 2, 255, 255, 255],
    ])


def test_sem_seg_annotation_exact_areas_and_boxes() -> None:
    labels = _hand_made_map()
    names = ['sky', 'tree', 'road', 'absent']
    ann = sem_seg_to_annotation(labels, names, {'file_name': 'a.jpg'},
                                scores={0: 0.9, 'road': np.float32(0.25)})
    assert ann['image'] == {'file_name': 'a.jpg', 'height': 4, 'width': 6}
    assert ann['label_names'] == names
    assert ann['label_png']['encoding'] == LABEL_PNG_ENCODING
    assert ann['unlabelled_area'] == 8
    by_class = {a['class_index']: a for a in ann['annotations']}
    assert sorted(by_class) == [0, 1, 2]
    assert (by_class[0]['area'], by_class[0]['bbox']) == (4, [0, 0, 2, 2])
    assert (by_class[1]['area'], by_class[1]['bbox']) == (6, [2, 0, 3, 3])
    assert (by_class[2]['area'], by_class[2]['bbox']) == (6, [0, 2, 3, 2])
    assert by_class[1]['name'] == 'tree' and 'score' not in by_class[1]
    assert by_class[0]['score'] == pytest.approx(0.9)
    assert by_class[2]['score'] == pytest.approx(0.25)
    for index, entry in by_class.items():
        np.testing.assert_array_equal(rle_to_mask(entry['segmentation']), labels == index)
        coco_box = mask_util.toBbox({'size': [4, 6],
                                     'counts': entry['segmentation']['counts'].encode()})
        assert coco_box.tolist() == entry['bbox']
    json.loads(json.dumps(ann))


def test_sem_seg_annotation_is_json_serialisable_with_numpy_inputs() -> None:
    labels = torch.from_numpy(_hand_made_map())[None]
    info = {'file_name': 'b.png', 'height': np.int64(4), 'width': np.int32(6),
            'extra': (np.float64(1.5), np.bool_(True))}
    text = json.dumps(sem_seg_to_annotation(labels, ('a', 'b', 'c'), info))
    assert json.loads(text)['image']['extra'] == [1.5, True]


def test_sem_seg_annotation_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match='outside'):
        sem_seg_to_annotation(_hand_made_map(), ['a', 'b'], {'file_name': 'x'})
    with pytest.raises(ValueError, match='image_info'):
        sem_seg_to_annotation(_hand_made_map(), ['a', 'b', 'c'], {'height': 5, 'width': 6})


def _instances() -> InstanceData:
    masks = torch.zeros(3, 20, 30, dtype=torch.bool)
    masks[0, 2:10, 3:12] = True
    masks[1, 5:15, 10:25] = True
    masks[2, 0:2, 0:2] = True
    return InstanceData(bboxes=torch.tensor([[3., 2., 12., 10.], [10., 5., 25., 15.],
                                             [0., 0., 2., 2.]]),
                        labels=torch.tensor([0, 2, 1]), scores=torch.tensor([0.9, 0.6, 0.1]),
                        masks=masks)


def test_instances_to_coco_fields() -> None:
    inst = _instances()
    anns = instances_to_coco(inst.bboxes, inst.labels, image_id=7, scores=inst.scores,
                             masks=inst.masks, score_threshold=0.5, start_id=10)
    assert [a['id'] for a in anns] == [10, 11]
    assert [a['category_id'] for a in anns] == [1, 3]
    assert anns[0]['bbox'] == [3.0, 2.0, 9.0, 8.0]
    assert anns[0]['area'] == 72 and anns[0]['iscrowd'] == 0 and anns[0]['image_id'] == 7
    assert anns[1]['score'] == pytest.approx(0.6)
    np.testing.assert_array_equal(rle_to_mask(anns[1]['segmentation']), inst.masks[1].numpy())
    no_mask = instances_to_coco(np.zeros((0, 4)), np.zeros(0), image_id=1)
    assert no_mask == []
    with pytest.raises(ValueError):
        instances_to_coco(np.zeros((2, 4)), np.zeros(1), image_id=1)


def test_to_coco_dataset_loads_in_pycocotools() -> None:
    images = [{'file_name': 'a.jpg', 'height': 20, 'width': 30},
              {'file_name': 'b.jpg', 'height': 20, 'width': 30, 'id': 42}]
    second = {'bboxes': np.array([[1, 1, 5, 5]]), 'labels': np.array([1])}
    dataset = to_coco_dataset(images, [_instances(), second], ['cat', 'dog', 'bird'])
    json.loads(json.dumps(dataset))
    assert [c['id'] for c in dataset['categories']] == [1, 2, 3]
    assert [img['id'] for img in dataset['images']] == [1, 42]
    assert [a['id'] for a in dataset['annotations']] == [1, 2, 3, 4]
    assert dataset['annotations'][-1]['image_id'] == 42
    assert dataset['annotations'][-1]['area'] == pytest.approx(16.0)
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    mask = coco.annToMask(coco.loadAnns([2])[0])
    np.testing.assert_array_equal(mask.astype(bool), _instances().masks[1].numpy())
    results = [a for a in dataset['annotations'] if 'score' in a]
    assert len(coco.loadRes(results).getAnnIds()) == 3


def test_polygon_format() -> None:
    inst = _instances()
    dataset = to_coco_dataset([{'file_name': 'a.jpg', 'height': 20, 'width': 30}], [inst],
                              ['cat', 'dog', 'bird'], mask_format='polygon')
    segm = dataset['annotations'][0]['segmentation']
    assert isinstance(segm, list) and len(segm) == 1 and len(segm[0]) >= 6
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []
    json.dumps(dataset)
    with pytest.raises(ValueError):
        instances_to_coco(inst.bboxes, inst.labels, 1, masks=inst.masks, mask_format='x')
