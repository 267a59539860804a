"""YOLO (Ultralytics) detect and segment datasets.

``detect/`` and ``segment/`` each hold ``images/<stem>.<ext>`` (relative symlinks to the
images; flat, unique stems, see ``ImageRecord.flat_stem``), ``labels/<stem>.txt`` and
``data.yaml`` (``names`` = the vocabulary). Detect rows: ``class cx cy w h``; segment rows:
``class x1 y1 x2 y2 ...``, all normalised to [0, 1] with 6 decimals. YOLO polygons have no
holes and one outline per object: a mask is written as its largest outer contour (use COCO
RLE or the VOC masks for exact masks), a part too thin for a contour (1 px wide) as its
pixel outline; objects without a mask are left out of segment/.
"""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np
import yaml

from ovperception.annotation.formats.files import atomic_write_text, image_extension, link_image
from ovperception.annotation.formats.registry import ExportOptions, Reuse, register_format
from ovperception.annotation.records import ImageRecord, ObjectAnnotation
from ovperception.utils.annotations import mask_to_polygons


def _area(polygon: np.ndarray) -> float:
    return float(cv2.contourArea(polygon.astype(np.float32)))


def largest_contour(mask: np.ndarray) -> np.ndarray | None:
    """(K, 2) float polygon of the mask's largest outer contour (None for an empty mask).

    The contour runs through the boundary pixel centres (what Ultralytics' own converters
    write). A part too thin for that (a single pixel, a 1-px line: its contour encloses no
    area) is outlined along its pixel edges instead, so every non-empty mask gives a
    polygon and YOLO-seg keeps the same objects as the other formats.
    """
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c.reshape(-1, 2).astype(float) for c in contours]
    contours = [c for c in contours if len(c) >= 3 and _area(c) > 0]
    if not contours:
        contours = [np.reshape(p, (-1, 2)) for p in mask_to_polygons(mask)]
    if not contours:
        return None
    return max(contours, key=_area)


def detect_line(obj: ObjectAnnotation, width: int, height: int) -> str:
    x1, y1, x2, y2 = obj.bbox
    values = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width,
              (y2 - y1) / height]
    return ' '.join([str(obj.label)] + [f'{min(max(v, 0.0), 1.0):.6f}' for v in values])


def segment_line(obj: ObjectAnnotation, width: int, height: int) -> str | None:
    if not obj.has_mask:
        return None
    crop, x0, y0 = obj.mask_crop()  # never the full-size mask: many regions stay cheap
    polygon = largest_contour(np.pad(crop, 1))  # outlines never touch the array's border
    if polygon is None:
        return None
    polygon = polygon + np.array([x0 - 1, y0 - 1], dtype=float)
    normalised = (polygon / np.array([width, height], dtype=float)).clip(0.0, 1.0).reshape(-1)
    return ' '.join([str(obj.label)] + [f'{v:.6f}' for v in normalised])


def _data_yaml(class_names: Sequence[str]) -> str:
    """No ``path``: Ultralytics then resolves ``images`` next to the yaml, so the dataset
    folder can be moved."""
    return yaml.safe_dump(dict(train='images', val='images',
                               names={i: str(n) for i, n in enumerate(class_names)}),
                          allow_unicode=True, sort_keys=False)


@register_format('yolo', 'Ultralytics YOLO detect/ and segment/ txt labels + data.yaml')
def write_yolo(records: Sequence[ImageRecord], objects: Sequence[Sequence[ObjectAnnotation]],
               class_names: Sequence[str], out_dir: str,
               options: ExportOptions, reuse: Reuse | None = None) -> list[str]:
    written = []
    for index, (record, objs) in enumerate(zip(records, objects)):
        image_file = record.flat_stem + image_extension(record.name)
        files = [os.path.join(kind, folder, name) for kind in ('detect', 'segment')
                 for folder, name in (('labels', record.flat_stem + '.txt'),
                                      ('images', image_file))]
        written += [os.path.join(out_dir, f) for f in files if f.endswith('.txt')]
        if reuse is not None and reuse.link_previous(index, out_dir) is not None:
            continue
        for kind, line_of in (('detect', detect_line), ('segment', segment_line)):
            root = os.path.join(out_dir, kind)
            link_image(record.image_path, os.path.join(root, 'images', image_file),
                       options.copy_images)
            lines = [line_of(obj, record.width, record.height) for obj in objs]
            atomic_write_text(os.path.join(root, 'labels', record.flat_stem + '.txt'),
                              ''.join(f'{line}\n' for line in lines if line))
        if reuse is not None:
            reuse.parts[reuse.keys[index]] = files
    for kind in ('detect', 'segment'):
        yaml_path = os.path.join(out_dir, kind, 'data.yaml')
        atomic_write_text(yaml_path, _data_yaml(class_names))
        written.append(yaml_path)
    return written
