"""Read each written dataset back with an independent reader and compare it with the
image records and objects it was written from (shared by the format and tool tests)."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Sequence

import cv2
import numpy as np
import supervision as sv
import yaml
from PIL import Image
from pycocotools.coco import COCO

from ovperception.annotation import ImageRecord, ObjectAnnotation
from tests.annotation.readers import decode_brush_rle, read_cvat, read_labelstudio

Objects = Sequence[Sequence[ObjectAnnotation]]


def boxes_equal(actual, objs, atol: float = 1e-6) -> bool:
    return np.allclose(np.reshape(actual, (-1, 4)),
                       np.reshape([o.bbox for o in objs], (-1, 4)), atol=atol)


def largest_part_filled(mask: np.ndarray) -> np.ndarray:
    """The largest part of the mask with its holes filled (what one YOLO polygon can
    describe)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    if contours:
        largest = max(contours, key=cv2.contourArea)
        cv2.drawContours(out, [largest], -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def holes_filled(mask: np.ndarray) -> np.ndarray:
    """Every 8-connected part of the mask with its holes filled (what outer polygons can
    describe)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def check_coco(out: str, records: Sequence[ImageRecord], objects: Objects,
               classes: Sequence[str]) -> None:
    coco = COCO(os.path.join(out, 'coco', 'annotations.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(classes)
    images = coco.loadImgs(coco.getImgIds())
    assert [i['file_name'] for i in images] == [r.name for r in records]
    for image, record, objs in zip(images, records, objects):
        assert image.get('frame_index') == record.frame_index
        assert image.get('timestamp') == record.timestamp
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image['id']))
        assert len(anns) == len(objs)
        for ann, obj in zip(anns, objs):
            assert ann['category_id'] - 1 == obj.label and ann.get('score') == obj.score
            x, y, w, h = ann['bbox']
            assert np.allclose([x, y, x + w, y + h], obj.bbox)
            if obj.mask is not None:
                assert np.array_equal(coco.annToMask(ann).astype(bool), obj.mask)
    ids = [a['id'] for a in coco.dataset['annotations']]
    assert len(ids) == len(set(ids))
    check_coco_polygons(out, coco, objects)


def check_coco_polygons(out: str, rle_coco: COCO, objects: Objects) -> None:
    """``annotations_polygons.json``: the same annotations as the RLE file, object by
    object; pycocotools decodes every polygon to the RLE mask with its holes filled (1-px
    regions included)."""
    poly = COCO(os.path.join(out, 'coco', 'annotations_polygons.json'))
    assert poly.getImgIds() == rle_coco.getImgIds()
    for image_id, objs in zip(rle_coco.getImgIds(), objects):
        anns = poly.loadAnns(poly.getAnnIds(imgIds=image_id))
        assert len(anns) == len(objs)
        for ann, obj in zip(anns, objs):
            assert ann['category_id'] - 1 == obj.label and ann.get('score') == obj.score
            if obj.mask is None:
                assert 'segmentation' not in ann
                continue
            segmentation = ann['segmentation']
            assert isinstance(segmentation, list)
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in segmentation)
            assert np.array_equal(poly.annToMask(ann).astype(bool), holes_filled(obj.mask))
            poly.annToRLE(ann)


def _sv_by_stem(dataset: sv.DetectionDataset) -> dict:
    return {os.path.splitext(os.path.basename(path))[0]: (dataset.classes, det)
            for path, _, det in dataset}


def check_yolo(out: str, records: Sequence[ImageRecord], objects: Objects,
               classes: Sequence[str], min_iou: float = 0.8) -> None:
    """Detect: classes and boxes (1e-3 px); segment: each polygon covers the largest part
    of its mask with holes filled (one YOLO polygon per object, no holes) at IoU >=
    ``min_iou`` (outlines run through boundary pixel centres)."""
    with open(os.path.join(out, 'yolo', 'detect', 'data.yaml'), encoding='utf-8') as handle:
        assert yaml.safe_load(handle)['names'] == dict(enumerate(classes))
    for kind in ('detect', 'segment'):
        root = os.path.join(out, 'yolo', kind)
        loaded = _sv_by_stem(sv.DetectionDataset.from_yolo(
            os.path.join(root, 'images'), os.path.join(root, 'labels'),
            os.path.join(root, 'data.yaml')))
        assert set(loaded) == {r.flat_stem for r in records}
        for record, objs in zip(records, objects):
            names, det = loaded[record.flat_stem]
            if kind == 'detect':
                assert [names[c] for c in det.class_id] == [classes[o.label] for o in objs]
                assert boxes_equal(det.xyxy, objs, atol=1e-3 * max(record.width,
                                                                   record.height))
                continue
            masked = [o for o in objs if o.mask is not None and o.mask.any()]
            assert len(det) == len(masked)  # the same objects as every other format
            assert [names[c] for c in det.class_id] == [classes[o.label] for o in masked]
            for mask, obj in zip(det.mask if det.mask is not None else [], masked):
                part = largest_part_filled(obj.mask)
                if part.sum() >= 10:
                    assert iou(mask, part) >= min_iou, iou(mask, part)
                else:  # 1-9 px: an outline of the pixels, rasterised by supervision
                    assert (mask & cv2.dilate(part.astype(np.uint8),
                                              np.ones((3, 3), np.uint8)).astype(bool)).any()


def check_voc(out: str, records: Sequence[ImageRecord], objects: Objects,
              classes: Sequence[str]) -> None:
    """Boxes (whole pixels) and classes via supervision; masks exact from the PNGs."""
    voc = os.path.join(out, 'voc')
    loaded = _sv_by_stem(sv.DetectionDataset.from_pascal_voc(
        os.path.join(voc, 'JPEGImages'), os.path.join(voc, 'Annotations')))
    assert set(loaded) == {r.flat_stem for r in records}
    for record, objs in zip(records, objects):
        names, det = loaded[record.flat_stem]
        assert [names[c] for c in det.class_id] == [classes[o.label] for o in objs]
        assert boxes_equal(det.xyxy, [ObjectAnnotation(o.label, tuple(
            float(round(v)) for v in o.bbox)) for o in objs])
        root = ET.parse(os.path.join(voc, 'Annotations', f'{record.flat_stem}.xml')).getroot()
        assert root.findtext('size/width') == str(record.width)
        if any(o.mask is not None for o in objs):
            instances = np.asarray(Image.open(os.path.join(
                voc, 'SegmentationObject', f'{record.flat_stem}.png')))
            class_png = np.asarray(Image.open(os.path.join(
                voc, 'SegmentationClass', f'{record.flat_stem}.png')))
            covered = np.zeros(instances.shape, bool)  # later objects are drawn on top
            for index in reversed(range(len(objs))):
                obj = objs[index]
                if obj.mask is None:
                    continue
                visible = obj.mask & ~covered
                assert np.array_equal(instances == index + 1, visible)  # holes kept
                assert (class_png[visible] == obj.label + 1).all()
                covered |= obj.mask
    with open(os.path.join(voc, 'labels.txt'), encoding='utf-8') as handle:
        assert handle.read().splitlines() == list(classes)


def check_cvat(out: str, records: Sequence[ImageRecord], objects: Objects,
               classes: Sequence[str]) -> None:
    labels, shapes, sizes = read_cvat(os.path.join(out, 'cvat', 'annotations.xml'))
    assert labels == list(classes) and list(shapes) == [r.name for r in records]
    for record, objs in zip(records, objects):
        assert sizes[record.name] == (record.height, record.width)
        boxes = [s for s in shapes[record.name] if s['type'] == 'box']
        masks = [s for s in shapes[record.name] if s['type'] == 'mask']
        assert [b['label'] for b in boxes] == [classes[o.label] for o in objs]
        assert boxes_equal([b['bbox'] for b in boxes], objs, atol=0.005)
        with_masks = [o for o in objs if o.mask is not None and o.mask.any()]
        assert len(masks) == len(with_masks)
        for shape, obj in zip(masks, with_masks):
            assert np.array_equal(shape['mask'], obj.mask)  # exact, holes kept


def check_labelstudio(out: str, records: Sequence[ImageRecord], objects: Objects,
                      classes: Sequence[str], image_url=None) -> None:
    """``image_url(record)``: the expected ``data.image`` (default: the absolute path)."""
    tasks = read_labelstudio(os.path.join(out, 'labelstudio', 'tasks.json'))
    assert [t['data']['image'] for t in tasks] == [
        image_url(r) if image_url else r.image_path for r in records]
    config = ET.parse(os.path.join(out, 'labelstudio', 'label_config.xml')).getroot()
    assert [n.get('value') for n in config.find('RectangleLabels')] == list(classes)
    for task, record, objs in zip(tasks, records, objects):
        assert task['data'].get('frame_index') == record.frame_index
        result = task['predictions'][0]['result']
        rectangles = [r for r in result if r['type'] == 'rectanglelabels']
        brushes = [r for r in result if r['type'] == 'brushlabels']
        assert [r['value']['rectanglelabels'][0] for r in rectangles] == \
            [classes[o.label] for o in objs]
        for region, obj in zip(rectangles, objs):
            v = region['value']
            box = (v['x'] * record.width / 100, v['y'] * record.height / 100,
                   (v['x'] + v['width']) * record.width / 100,
                   (v['y'] + v['height']) * record.height / 100)
            assert np.allclose(box, obj.bbox, atol=1e-3) and region.get('score') == obj.score
        masked = [o for o in objs if o.mask is not None]
        assert len(brushes) == len(masked)
        for region, obj in zip(brushes, masked):
            assert np.array_equal(decode_brush_rle(region['value']['rle'], record.height,
                                                   record.width), obj.mask)


CHECKS = dict(coco=check_coco, yolo=check_yolo, voc=check_voc, cvat=check_cvat,
              labelstudio=check_labelstudio)
