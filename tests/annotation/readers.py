"""Strict, independent readers of the formats that have no pip-installable reader in
``.[all]`` (CVAT for images XML, Label Studio tasks with brush RLE), written from the
formats' documentation, not from our writers, for round-trip tests."""
from __future__ import annotations

import json
from xml.etree import ElementTree as ET

import numpy as np


def read_cvat(path: str) -> tuple[list[str], dict[str, list[dict]], dict[str, tuple[int, int]]]:
    """CVAT for images 1.1: (labels, {image name: [shape]}, {image name: (H, W)}).

    Each shape: ``{'type': 'box'|'mask', 'label', 'bbox' (x1, y1, x2, y2) for boxes,
    'mask' (H, W) bool for masks}``. Raises AssertionError on anything off-format.
    """
    root = ET.parse(path).getroot()
    assert root.tag == 'annotations' and root.findtext('version') == '1.1'
    labels = [node.findtext('name') for node in root.findall('./meta/task/labels/label')]
    assert int(root.findtext('./meta/task/size')) == len(root.findall('image'))
    shapes, sizes = {}, {}
    for image in root.findall('image'):
        name = image.get('name')
        height, width = int(image.get('height')), int(image.get('width'))
        assert name not in shapes, f'duplicate image {name}'
        sizes[name] = (height, width)
        shapes[name] = []
        for shape in image:
            assert shape.get('label') in labels, shape.get('label')
            if shape.tag == 'box':
                box = tuple(float(shape.get(k)) for k in ('xtl', 'ytl', 'xbr', 'ybr'))
                assert 0 <= box[0] <= box[2] <= width and 0 <= box[1] <= box[3] <= height
                shapes[name].append(dict(type='box', label=shape.get('label'), bbox=box))
            elif shape.tag == 'mask':
                left, top, w, h = (int(shape.get(k)) for k in ('left', 'top', 'width',
                                                               'height'))
                counts = [int(c) for c in shape.get('rle').split(',')]
                assert sum(counts) == w * h, 'mask RLE does not cover its box'
                values = np.concatenate([np.full(c, i % 2, bool)
                                         for i, c in enumerate(counts)])
                mask = np.zeros((height, width), bool)
                mask[top:top + h, left:left + w] = values.reshape(h, w)
                shapes[name].append(dict(type='mask', label=shape.get('label'), mask=mask))
            else:
                raise AssertionError(f'unexpected shape <{shape.tag}>')
    return labels, shapes, sizes


class _Bits:
    def __init__(self, data: list[int]) -> None:
        self.bits = ''.join(f'{b:08b}' for b in data)
        self.pos = 0

    def read(self, count: int) -> int:
        value = int(self.bits[self.pos:self.pos + count], 2)
        self.pos += count
        return value


def decode_brush_rle(rle: list[int], height: int, width: int) -> np.ndarray:
    """Label Studio brush RLE -> (H, W) bool mask (the alpha channel of the RGBA image),
    decoding the thi.ng rle-pack stream: header, then repeat (1) or literal (0) chunks."""
    bits = _Bits(rle)
    total = bits.read(32)
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    assert total == height * width * 4, (total, height, width)
    out = np.zeros(total, np.uint8)
    pos = 0
    while pos < total:
        repeat = bits.read(1)
        count = bits.read(sizes[bits.read(2)]) + 1
        if repeat:
            out[pos:pos + count] = bits.read(word)
        else:
            for i in range(count):
                out[pos + i] = bits.read(word)
        pos += count
    assert pos == total
    return out.reshape(height, width, 4)[..., 3] > 127


def read_labelstudio(path: str) -> list[dict]:
    """Label Studio import tasks, checked against the documented task/prediction schema:
    each task a dict with ``data`` (holding ``image``) and ``predictions``, each prediction
    a ``result`` list of regions with ``from_name``, ``to_name``, ``type``, ``value``,
    ``original_width`` / ``original_height``; rectangles in percent (0..100)."""
    with open(path, encoding='utf-8') as handle:
        tasks = json.load(handle)
    assert isinstance(tasks, list)
    for task in tasks:
        assert isinstance(task['data']['image'], str)
        for prediction in task['predictions']:
            assert isinstance(prediction['result'], list)
            ids = [r['id'] for r in prediction['result']]
            assert len(ids) == len(set(ids)), 'region ids must be unique within a result'
            for region in prediction['result']:
                assert {'from_name', 'to_name', 'type', 'value', 'original_width',
                        'original_height'} <= set(region)
                value = region['value']
                labels = value[region['type']]
                assert isinstance(labels, list) and len(labels) == 1
                if region['type'] == 'rectanglelabels':
                    for key in ('x', 'y', 'width', 'height'):
                        assert 0.0 <= value[key] <= 100.0
                    assert value['x'] + value['width'] <= 100.0 + 1e-6
                else:
                    assert region['type'] == 'brushlabels' and value['format'] == 'rle'
    return tasks
