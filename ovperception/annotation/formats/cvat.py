"""CVAT for images 1.1 XML: ``annotations.xml``.

``<meta><task>`` lists the vocabulary as labels; each ``<image id name width height>``
(``name`` = the record's relative name) holds a ``<box>`` per object (``xtl ytl xbr ybr``
in pixels, 2 decimals) and, with a mask, a ``<mask>`` (CVAT's mask RLE: the mask cropped
to its tight box ``left top width height``, flattened row-major, as alternating run
lengths starting with background -- exact, holes kept). Shapes carry ``source="auto"``.
"""
from __future__ import annotations

import os
from typing import Sequence
from xml.etree import ElementTree as ET

import numpy as np

from ovperception.annotation.formats.files import atomic_write_text
from ovperception.annotation.formats.registry import (ExportOptions, Reuse, register_format,
                                                      reused_part)
from ovperception.annotation.records import ImageRecord, ObjectAnnotation


def cvat_mask_rle(mask: np.ndarray) -> tuple[list[int], tuple[int, int, int, int]]:
    """(run lengths starting with background, (left, top, width, height)) of a mask."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return [], (0, 0, 0, 0)
    top, left = int(rows[0]), int(cols[0])
    height, width = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
    flat = mask[top:top + height, left:left + width].reshape(-1).astype(np.int8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.r_[0, changes, flat.size]
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return [int(c) for c in counts], (left, top, width, height)


def cvat_part(objs: Sequence[ObjectAnnotation], class_names: Sequence[str]
              ) -> list[list]:
    """One image's shapes as ``[[tag, {attribute: value}], ...]`` (a box per object, then
    its mask when it has one)."""
    shapes = []
    for obj in objs:
        common = dict(label=str(class_names[obj.label]), source='auto', occluded='0',
                      z_order='0')
        x1, y1, x2, y2 = obj.bbox
        shapes.append(['box', dict(common, xtl=f'{x1:.2f}', ytl=f'{y1:.2f}',
                                   xbr=f'{x2:.2f}', ybr=f'{y2:.2f}')])
        crop, x0, y0 = obj.mask_crop() if obj.has_mask else (None, 0, 0)
        if crop is not None and crop.any():  # from the mask's box, never the full-size mask
            counts, (left, top, width, height) = cvat_mask_rle(crop)
            shapes.append(['mask', dict(common, rle=', '.join(map(str, counts)),
                                        left=str(left + x0), top=str(top + y0),
                                        width=str(width), height=str(height))])
    return shapes


def cvat_xml(records: Sequence[ImageRecord], objects: Sequence[Sequence[ObjectAnnotation]],
             class_names: Sequence[str], parts: Sequence[list] | None = None) -> str:
    """The XML document; ``parts``: each record's :func:`cvat_part` (computed when None)."""
    if parts is None:
        parts = [cvat_part(objs, class_names) for objs in objects]
    root = ET.Element('annotations')
    ET.SubElement(root, 'version').text = '1.1'
    task = ET.SubElement(ET.SubElement(root, 'meta'), 'task')
    ET.SubElement(task, 'name').text = 'ovperception auto-annotation'
    ET.SubElement(task, 'size').text = str(len(records))
    ET.SubElement(task, 'mode').text = 'annotation'
    labels = ET.SubElement(task, 'labels')
    for name in class_names:
        label = ET.SubElement(labels, 'label')
        ET.SubElement(label, 'name').text = str(name)
        ET.SubElement(label, 'type').text = 'any'
        ET.SubElement(label, 'attributes')
    for image_id, (record, shapes) in enumerate(zip(records, parts)):
        image = ET.SubElement(root, 'image', id=str(image_id), name=record.name,
                              width=str(record.width), height=str(record.height))
        for tag, attributes in shapes:
            ET.SubElement(image, tag, **attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, 'unicode') + '\n'


@register_format('cvat', 'CVAT for images 1.1 XML (boxes + RLE masks)')
def write_cvat(records: Sequence[ImageRecord], objects: Sequence[Sequence[ObjectAnnotation]],
               class_names: Sequence[str], out_dir: str,
               options: ExportOptions, reuse: Reuse | None = None) -> list[str]:
    parts = [reused_part(reuse, i, lambda i=i: cvat_part(objects[i], class_names))
             for i in range(len(records))]
    path = os.path.join(out_dir, 'annotations.xml')
    atomic_write_text(path, cvat_xml(records, objects, class_names, parts))
    return [path]
