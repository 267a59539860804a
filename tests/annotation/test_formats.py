"""Each dataset format, read back by an independent reader, equals the objects written."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from ovperception.annotation import (DATASET_FORMATS, ImageRecord, ObjectAnnotation,
                                     parse_formats, unique_names, write_dataset)
from ovperception.annotation.formats.labelstudio import brush_rle
from tests.annotation.checks import CHECKS
from tests.annotation.readers import decode_brush_rle

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


def tiny_objects(height: int, width: int) -> list[ObjectAnnotation]:
    """Regions of 1-9 px (what ``--min-area 1`` keeps): a pixel, a 1-px line, a diagonal,
    a 2x2 block, a 3x3 block -- each a valid polygon in COCO and an object in YOLO-seg."""
    pixels = [[(1, 1)], [(39, x) for x in range(6)], [(30, 2), (31, 3), (32, 4)],
              [(2, 40), (2, 41), (3, 40), (3, 41)], [(y, x) for y in (10, 11, 12)
                                                    for x in (30, 31, 32)]]
    objects = []
    for index, points in enumerate(pixels):
        mask = np.zeros((height, width), bool)
        ys, xs = zip(*points)
        mask[list(ys), list(xs)] = True
        objects.append(ObjectAnnotation(index % 3, (min(xs), min(ys), max(xs) + 1.0,
                                                    max(ys) + 1.0), None, mask))
    return objects


@pytest.fixture
def dataset(tmp_path):
    """Three images: one with two masked objects and five 1-9 px regions, one empty, one
    video frame with a box."""
    rng = np.random.RandomState(0)
    names = ['a/x.png', 'a/x.jpg', 'v.mp4/000003.png']
    sizes = [(40, 50), (30, 20), (40, 50)]
    paths = []
    for name, (h, w) in zip(names, sizes):
        path = tmp_path / 'in' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.rand(h, w, 3) * 255).astype(np.uint8)).save(
            path, format='PNG' if name.endswith('png') else 'JPEG')
        paths.append(str(path))
    records = [ImageRecord(n, s, p, h, w, p) for n, s, p, (h, w) in
               zip(names, unique_names(names), paths, sizes)]
    records[2].frame_index, records[2].timestamp = 3, 0.6
    objects = [
        [ObjectAnnotation(0, (8.0, 5.0, 24.0, 25.0), 0.9, ring_mask(40, 50)),
         ObjectAnnotation(2, (30.0, 28.0, 45.0, 38.0), 0.75, blob_mask(40, 50)),
         *tiny_objects(40, 50)],
        [],
        [ObjectAnnotation(1, (3.0, 4.0, 20.0, 30.0), 0.5, None)],
    ]
    out = tmp_path / 'out'
    for name in DATASET_FORMATS:
        write_dataset(name, records, objects, CLASSES, str(out / name))
    return records, objects, str(out)


def test_unique_names_never_collide():
    names = ['a/x.jpg', 'a/x.png', 'b/x.jpg', 'a__x.jpg', 'c.png']
    stems = unique_names(names)
    assert len(set(stems)) == len(stems)
    assert stems[:3] == ['a__x_jpg', 'a__x_png', 'b__x'] and stems[4] == 'c'


def test_parse_formats_rejects_unknown():
    assert parse_formats('coco, yolo,coco') == ['coco', 'yolo']
    with pytest.raises(ValueError, match='unknown dataset format'):
        parse_formats('coco,tfrecord')


@pytest.mark.parametrize('name', sorted(DATASET_FORMATS))
def test_format_read_back_equals_objects(dataset, name):
    records, objects, out = dataset
    CHECKS[name](out, records, objects, CLASSES)


def test_coco_polygons_do_not_keep_holes(dataset):
    """The polygon variant describes outer outlines: the ring's hole comes back filled."""
    _, _, out = dataset
    poly = COCO(f'{out}/coco/annotations_polygons.json')
    ring = poly.loadAnns(poly.getAnnIds(imgIds=1))[0]
    assert isinstance(ring['segmentation'], list)
    mask = poly.annToMask(ring).astype(bool)
    assert mask[12:18, 14:18].all()
    solid = np.zeros((40, 50), bool)
    solid[5:25, 8:24] = True
    assert (mask & solid).sum() / (mask | solid).sum() > 0.85


@pytest.mark.parametrize('shape', [(1, 1), (3, 70000 // 3 + 5), (37, 41)])
def test_brush_rle_long_runs_and_literals(shape):
    rng = np.random.RandomState(1)
    for mask in (np.zeros(shape, bool), np.ones(shape, bool), rng.rand(*shape) > 0.5):
        assert np.array_equal(decode_brush_rle(brush_rle(mask), *shape), mask)


def test_the_command_lines_format_names_are_the_registered_formats():
    """``settings.FORMAT_NAMES`` (read by ``--help`` without importing the writers) lists
    exactly the registered formats."""
    from ovperception.annotation.formats import DATASET_FORMATS
    from ovperception.annotation.settings import FORMAT_NAMES

    assert sorted(FORMAT_NAMES) == sorted(DATASET_FORMATS)
