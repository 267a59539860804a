"""COCO instances: ``annotations.json`` (masks as compressed RLE, exact, holes kept) and
``annotations_polygons.json`` (masks as outer polygons: holes are NOT kept).

Image ``file_name`` is the record's relative name (mirrors the input folder); ``path`` is
the absolute image file; video frames carry ``frame_index`` and ``timestamp``.
Categories are the vocabulary, ``id = class index + 1``; boxes ``[x, y, w, h]``.
"""
from __future__ import annotations

import os
from typing import Sequence

from ovperception.annotation.formats.files import write_json
from ovperception.annotation.formats.registry import (ExportOptions, Reuse, register_format,
                                                      reused_part)
from ovperception.annotation.records import ImageRecord, ObjectAnnotation
from ovperception.utils.annotations import crop_to_polygons


def coco_part(record: ImageRecord, objs: Sequence[ObjectAnnotation]) -> dict:
    """One image's COCO fragment: its ``image`` entry and its annotations in both mask
    formats (``rle``, ``polygon``), without ids (assigned when the file is assembled)."""
    image = dict(file_name=record.name, path=record.image_path, height=record.height,
                 width=record.width, source=record.source)
    if record.frame_index is not None:
        image.update(frame_index=record.frame_index, timestamp=record.timestamp)
    image.update(record.extra)
    annotations: dict[str, list] = dict(rle=[], polygon=[])
    for obj in objs:
        x1, y1, x2, y2 = obj.bbox
        ann = dict(category_id=obj.label + 1, bbox=[x1, y1, x2 - x1, y2 - y1],
                   area=(x2 - x1) * (y2 - y1), iscrowd=0)
        if obj.score is not None:
            ann['score'] = obj.score
        if not obj.has_mask:
            annotations['rle'].append(ann)
            annotations['polygon'].append(ann)
            continue
        crop, x0, y0 = obj.mask_crop()  # never the full-size mask: many regions stay cheap
        ann['area'] = int(crop.sum())
        annotations['rle'].append(dict(ann, segmentation=obj.rle))
        annotations['polygon'].append(dict(ann, segmentation=crop_to_polygons(crop, x0, y0)))
    return dict(image=image, **annotations)


def coco_from_parts(parts: Sequence[dict], class_names: Sequence[str],
                    mask_format: str = 'rle') -> dict:
    """The COCO dict of the images whose :func:`coco_part` are ``parts``."""
    images, annotations = [], []
    for image_id, part in enumerate(parts, start=1):
        images.append(dict(id=image_id, **part['image']))
        for ann in part[mask_format]:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, **ann))
    categories = [dict(id=i + 1, name=str(n), supercategory='object')
                  for i, n in enumerate(class_names)]
    return dict(info=dict(description='ovperception auto-annotation'), licenses=[],
                images=images, annotations=annotations, categories=categories)


def coco_dataset(records: Sequence[ImageRecord], objects: Sequence[Sequence[ObjectAnnotation]],
                 class_names: Sequence[str], mask_format: str = 'rle') -> dict:
    """The COCO dict; ``mask_format`` is ``'rle'`` or ``'polygon'``."""
    return coco_from_parts([coco_part(r, o) for r, o in zip(records, objects)], class_names,
                           mask_format)


@register_format('coco', 'COCO instances JSON (RLE masks) + a polygon variant')
def write_coco(records: Sequence[ImageRecord], objects: Sequence[Sequence[ObjectAnnotation]],
               class_names: Sequence[str], out_dir: str,
               options: ExportOptions, reuse: Reuse | None = None) -> list[str]:
    parts = [reused_part(reuse, i, lambda i=i: coco_part(records[i], objects[i]))
             for i in range(len(records))]
    paths = [os.path.join(out_dir, 'annotations.json'),
             os.path.join(out_dir, 'annotations_polygons.json')]
    write_json(paths[0], coco_from_parts(parts, class_names, 'rle'))
    write_json(paths[1], coco_from_parts(parts, class_names, 'polygon'))
    return paths
