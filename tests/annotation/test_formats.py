"""Each dataset format, read back by an independent reader, equals the objects written."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import supervision as sv
import yaml
from PIL import Image
from pycocotools.coco import COCO

from ovperception.annotation import (DATASET_FORMATS, ImageRecord, ObjectAnnotation,
                                     parse_formats, unique_names, write_dataset)
from ovperception.annotation.formats.labelstudio import brush_rle
from tests.annotation.readers import decode_brush_rle, read_cvat, read_labelstudio

CLASSES = ['猫 cat', 'dog', '🐱']


def ring_mask(height: int, width: int) -> np.ndarray:
    """A 20x16 rectangle with a 6x4 hole: polygons cannot keep the hole, RLE must."""
    mask = np.zeros((height, width), bool)
    mask[5:25, 8:24] = True
    mask[12:18, 14:18] = False
    return mask


def blob_mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[30:38, 30:45] = True
    mask[28:30, 34:40] = True
    return mask


@pytest.fixture
def dataset(tmp_path):
    """Three images: one with two masked objects, one empty, one video frame with a box."""
    rng = np.random.RandomState(0)
    paths = []
    for name, (h, w) in (('a/x.png', (40, 50)), ('a/x.jpg', (30, 20)), ('v.mp4/000003.png',
                                                                       (40, 50))):
        path = tmp_path / 'in' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.rand(h, w, 3) * 255).astype(np.uint8)).save(
            path, format='PNG' if name.endswith('png') else 'JPEG')
        paths.append(str(path))
    names = ['a/x.png', 'a/x.jpg', 'v.mp4/000003.png']
    stems = unique_names(names)
    records = [ImageRecord(n, s, p, h, w, p) for n, s, p, (h, w) in
               zip(names, stems, paths, ((40, 50), (30, 20), (40, 50)))]
    records[2].frame_index, records[2].timestamp = 3, 0.6
    ring, blob = ring_mask(40, 50), blob_mask(40, 50)
    objects = [
        [ObjectAnnotation(0, (8.0, 5.0, 24.0, 25.0), 0.9, ring),
         ObjectAnnotation(2, (30.0, 28.0, 45.0, 38.0), 0.75, blob)],
        [],
        [ObjectAnnotation(1, (3.0, 4.0, 20.0, 30.0), 0.5, None)],
    ]
    out = tmp_path / 'out'
    for name in DATASET_FORMATS:
        write_dataset(name, records, objects, CLASSES, str(out / name))
    return records, objects, out


def test_unique_names_never_collide():
    names = ['a/x.jpg', 'a/x.png', 'b/x.jpg', 'a__x.jpg', 'c.png']
    stems = unique_names(names)
    assert len(set(stems)) == len(stems)
    assert stems[:3] == ['a__x_jpg', 'a__x_png', 'b__x'] and stems[4] == 'c'


def test_parse_formats_rejects_unknown():
    assert parse_formats('coco, yolo,coco') == ['coco', 'yolo']
    with pytest.raises(ValueError, match='unknown dataset format'):
        parse_formats('coco,tfrecord')


def test_coco_read_by_pycocotools(dataset):
    records, objects, out = dataset
    coco = COCO(str(out / 'coco' / 'annotations.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == CLASSES
    images = coco.loadImgs(coco.getImgIds())
    assert [i['file_name'] for i in images] == [r.name for r in records]
    assert images[2]['frame_index'] == 3 and images[2]['timestamp'] == 0.6
    for image, objs in zip(images, objects):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image['id']))
        assert len(anns) == len(objs)
        for ann, obj in zip(anns, objs):
            assert ann['category_id'] - 1 == obj.label and ann['score'] == obj.score
            x, y, w, h = ann['bbox']
            assert np.allclose([x, y, x + w, y + h], obj.bbox)
            if obj.mask is not None:
                assert np.array_equal(coco.annToMask(ann).astype(bool), obj.mask)
    # polygons: one outline per part, no holes -- the hole of the ring comes back filled
    poly = COCO(str(out / 'coco' / 'annotations_polygons.json'))
    ring_ann = poly.loadAnns(poly.getAnnIds(imgIds=1))[0]
    assert isinstance(ring_ann['segmentation'], list)
    filled = poly.annToMask(ring_ann).astype(bool)
    assert filled[12:18, 14:18].all(), 'polygons do not keep holes (documented)'
    solid = np.zeros((40, 50), bool)
    solid[5:25, 8:24] = True
    assert (filled & solid).sum() / (filled | solid).sum() > 0.85


def boxes_equal(actual, objs, atol: float = 1e-6) -> bool:
    return np.allclose(np.reshape(actual, (-1, 4)),
                       np.reshape([o.bbox for o in objs], (-1, 4)), atol=atol)


def _sv_by_stem(dataset: sv.DetectionDataset) -> dict:
    return {os.path.splitext(os.path.basename(path))[0]: (dataset.classes, det)
            for path, _, det in dataset}


def test_yolo_read_by_supervision(dataset):
    records, objects, out = dataset
    with open(out / 'yolo' / 'detect' / 'data.yaml', encoding='utf-8') as handle:
        assert yaml.safe_load(handle)['names'] == dict(enumerate(CLASSES))
    for kind in ('detect', 'segment'):
        root = out / 'yolo' / kind
        loaded = _sv_by_stem(sv.DetectionDataset.from_yolo(
            str(root / 'images'), str(root / 'labels'), str(root / 'data.yaml')))
        assert set(loaded) == {r.flat_stem for r in records}
        for record, objs in zip(records, objects):
            classes, det = loaded[record.flat_stem]
            expected = objs if kind == 'detect' else [o for o in objs if o.mask is not None]
            assert [classes[c] for c in det.class_id] == [CLASSES[o.label] for o in expected]
            if kind == 'detect':
                assert boxes_equal(det.xyxy, expected, atol=1e-3)
            for mask, obj in zip(det.mask if det.mask is not None else [], expected):
                solid = obj.mask.copy()
                if obj.label == 0:
                    solid[12:18, 14:18] = True  # YOLO polygons keep no holes
                assert (mask & solid).sum() / (mask | solid).sum() > 0.8


def test_voc_read_by_supervision_and_pil(dataset):
    records, objects, out = dataset
    voc = out / 'voc'
    loaded = _sv_by_stem(sv.DetectionDataset.from_pascal_voc(
        str(voc / 'JPEGImages'), str(voc / 'Annotations')))
    for record, objs in zip(records, objects):
        classes, det = loaded[record.flat_stem]
        assert [classes[c] for c in det.class_id] == [CLASSES[o.label] for o in objs]
        assert boxes_equal(det.xyxy, objs)
        root = ET.parse(voc / 'Annotations' / f'{record.flat_stem}.xml').getroot()
        assert root.findtext('size/width') == str(record.width)
        if any(o.mask is not None for o in objs):
            instances = np.asarray(Image.open(voc / 'SegmentationObject' /
                                              f'{record.flat_stem}.png'))
            classes_png = np.asarray(Image.open(voc / 'SegmentationClass' /
                                                f'{record.flat_stem}.png'))
            for index, obj in enumerate(objs):
                assert np.array_equal(instances == index + 1, obj.mask)  # holes kept
                assert (classes_png[obj.mask] == obj.label + 1).all()
    assert (voc / 'labels.txt').read_text(encoding='utf-8').split('\n')[:3] == CLASSES


def test_cvat_read_by_strict_parser(dataset):
    records, objects, out = dataset
    labels, shapes, sizes = read_cvat(str(out / 'cvat' / 'annotations.xml'))
    assert labels == CLASSES and list(shapes) == [r.name for r in records]
    for record, objs in zip(records, objects):
        assert sizes[record.name] == (record.height, record.width)
        boxes = [s for s in shapes[record.name] if s['type'] == 'box']
        masks = [s for s in shapes[record.name] if s['type'] == 'mask']
        assert [b['label'] for b in boxes] == [CLASSES[o.label] for o in objs]
        assert boxes_equal([b['bbox'] for b in boxes], objs)
        with_masks = [o for o in objs if o.mask is not None]
        assert len(masks) == len(with_masks)
        for shape, obj in zip(masks, with_masks):
            assert np.array_equal(shape['mask'], obj.mask)  # exact, hole kept


def test_labelstudio_schema_and_brush_rle(dataset):
    records, objects, out = dataset
    tasks = read_labelstudio(str(out / 'labelstudio' / 'tasks.json'))
    assert [t['data']['image'] for t in tasks] == [r.image_path for r in records]
    assert tasks[2]['data']['frame_index'] == 3
    config = ET.parse(out / 'labelstudio' / 'label_config.xml').getroot()
    assert [n.get('value') for n in config.find('RectangleLabels')] == CLASSES
    for task, record, objs in zip(tasks, records, objects):
        result = task['predictions'][0]['result']
        rectangles = [r for r in result if r['type'] == 'rectanglelabels']
        brushes = [r for r in result if r['type'] == 'brushlabels']
        assert [r['value']['rectanglelabels'][0] for r in rectangles] == \
            [CLASSES[o.label] for o in objs]
        for region, obj in zip(rectangles, objs):
            v = region['value']
            box = (v['x'] * record.width / 100, v['y'] * record.height / 100,
                   (v['x'] + v['width']) * record.width / 100,
                   (v['y'] + v['height']) * record.height / 100)
            assert np.allclose(box, obj.bbox, atol=1e-4) and region['score'] == obj.score
        for region, obj in zip(brushes, [o for o in objs if o.mask is not None]):
            assert np.array_equal(decode_brush_rle(region['value']['rle'], record.height,
                                                   record.width), obj.mask)


@pytest.mark.parametrize('shape', [(1, 1), (3, 70000 // 3 + 5), (37, 41)])
def test_brush_rle_long_runs_and_literals(shape):
    rng = np.random.RandomState(1)
    for mask in (np.zeros(shape, bool), np.ones(shape, bool), rng.rand(*shape) > 0.5):
        assert np.array_equal(decode_brush_rle(brush_rle(mask), *shape), mask)
