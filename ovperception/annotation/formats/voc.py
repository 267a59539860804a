"""Pascal VOC: ``Annotations/<stem>.xml`` per image, ``JPEGImages/`` (relative symlinks to
the images, whatever their format), ``SegmentationClass/`` and ``SegmentationObject/``
PNGs, ``ImageSets/Main/default.txt`` and ``labels.txt`` (the vocabulary, one per line).

Boxes are VOC's 1-based inclusive pixel indices (``xmin = x1 + 1``, ``xmax = x2`` for a
box whose pixels are ``x1 .. x2 - 1``), rounded to whole pixels. Segmentation PNGs are
single-channel: SegmentationClass holds ``class index + 1`` (0 = background),
SegmentationObject holds ``object index + 1`` in the XML's object order; where masks
overlap, the later object wins. Masks are exact (holes kept), objects without masks are
absent from the PNGs.
"""
from __future__ import annotations

import os
from typing import Sequence
from xml.etree import ElementTree as ET

import numpy as np

from ovperception.annotation.formats.files import atomic_write_text, image_extension, link_image
from ovperception.annotation.formats.registry import ExportOptions, Reuse, register_format
from ovperception.annotation.records import SCORE_DECIMALS, ImageRecord, ObjectAnnotation
from ovperception.utils.atomic import atomic_save_image


def _element(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    child = ET.SubElement(parent, tag)
    if text is not None:
        child.text = str(text)
    return child


def voc_box(bbox: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """``(xmin, ymin, xmax, ymax)`` 1-based inclusive of an ``(x1, y1, x2, y2)`` box."""
    x1, y1, x2, y2 = (int(round(v)) for v in bbox)
    x1, y1 = min(max(x1, 0), width - 1), min(max(y1, 0), height - 1)
    return x1 + 1, y1 + 1, min(max(x2, x1 + 1), width), min(max(y2, y1 + 1), height)


def voc_xml(record: ImageRecord, objs: Sequence[ObjectAnnotation],
            class_names: Sequence[str], image_file: str) -> str:
    root = ET.Element('annotation')
    _element(root, 'folder', 'JPEGImages')
    _element(root, 'filename', image_file)
    _element(root, 'path', record.image_path)
    source = _element(root, 'source')
    _element(source, 'database', 'ovperception auto-annotation')
    _element(source, 'original', record.name)
    if record.frame_index is not None:
        _element(source, 'frame_index', record.frame_index)
        _element(source, 'timestamp', record.timestamp)
    size = _element(root, 'size')
    for tag, value in (('width', record.width), ('height', record.height), ('depth', 3)):
        _element(size, tag, value)
    _element(root, 'segmented', int(any(o.has_mask for o in objs)))
    for obj in objs:
        node = _element(root, 'object')
        _element(node, 'name', class_names[obj.label])
        _element(node, 'pose', 'Unspecified')
        _element(node, 'truncated', 0)
        _element(node, 'difficult', 0)
        if obj.score is not None:
            _element(node, 'score', f'{obj.score:.{SCORE_DECIMALS}f}')
        box = _element(node, 'bndbox')
        for tag, value in zip(('xmin', 'ymin', 'xmax', 'ymax'),
                              voc_box(obj.bbox, record.width, record.height)):
            _element(box, tag, value)
    ET.indent(root)
    return ET.tostring(root, encoding='unicode') + '\n'


def segmentation_pngs(record: ImageRecord,
                      objs: Sequence[ObjectAnnotation]) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) class map (class + 1) and object map (object index + 1), uint8 or uint16."""
    dtype = np.uint8 if len(objs) < 255 else np.uint16
    class_map = np.zeros((record.height, record.width), np.uint16)
    object_map = np.zeros((record.height, record.width), np.uint16)
    for index, obj in enumerate(objs):
        if obj.has_mask:
            crop, x0, y0 = obj.mask_crop()
            box = (slice(y0, y0 + crop.shape[0]), slice(x0, x0 + crop.shape[1]))
            class_map[box][crop] = obj.label + 1
            object_map[box][crop] = index + 1
    class_dtype = np.uint8 if class_map.max(initial=0) < 255 else np.uint16
    return class_map.astype(class_dtype), object_map.astype(dtype)


@register_format('voc', 'Pascal VOC XML + SegmentationClass/SegmentationObject PNGs')
def write_voc(records: Sequence[ImageRecord], objects: Sequence[Sequence[ObjectAnnotation]],
              class_names: Sequence[str], out_dir: str,
              options: ExportOptions, reuse: Reuse | None = None) -> list[str]:
    written = []
    for index, (record, objs) in enumerate(zip(records, objects)):
        image_file = record.flat_stem + image_extension(record.name)
        xml_path = os.path.join(out_dir, 'Annotations', record.flat_stem + '.xml')
        written.append(xml_path)
        linked = None if reuse is None else reuse.link_previous(index, out_dir)
        if linked is not None:
            written += [os.path.join(out_dir, f) for f in linked if f.endswith('.png')]
            continue
        files = [os.path.join('JPEGImages', image_file),
                 os.path.join('Annotations', record.flat_stem + '.xml')]
        pngs = [os.path.join(folder, record.flat_stem + '.png')
                for folder in ('SegmentationClass', 'SegmentationObject')]
        link_image(record.image_path, os.path.join(out_dir, 'JPEGImages', image_file),
                   options.copy_images)
        atomic_write_text(xml_path, voc_xml(record, objs, class_names, image_file))
        if any(o.has_mask for o in objs):
            class_map, object_map = segmentation_pngs(record, objs)
            for relative, array in zip(pngs, (class_map, object_map)):
                path = os.path.join(out_dir, relative)
                atomic_save_image(path, array)
                written.append(path)
            files += pngs
        if reuse is not None:
            reuse.parts[reuse.keys[index]] = files
    for path, lines in ((os.path.join(out_dir, 'ImageSets', 'Main', 'default.txt'),
                         [r.flat_stem for r in records]),
                        (os.path.join(out_dir, 'labels.txt'), [str(n) for n in class_names])):
        atomic_write_text(path, ''.join(f'{line}\n' for line in lines))
        written.append(path)
    return written
