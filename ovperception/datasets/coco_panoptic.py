"""COCO panoptic (panoptic PNG + JSON layout) for training and evaluating panoptic models.

Layout under ``data_root`` (the official one, as detectron2 / mmdet expect it)::

    train2017/*.jpg  val2017/*.jpg
    annotations/panoptic_train2017.json   annotations/panoptic_train2017/*.png
    annotations/panoptic_val2017.json     annotations/panoptic_val2017/*.png

Each PNG stores segment ids as colours (``id = R + 256 G + 256^2 B``); the JSON lists, per
image, its segments (``id``, ``category_id``, ``iscrowd``) and the ``categories`` (``id``,
``name``, ``isthing``). Class index k is the k-th category in id order. Samples get
``gt_panoptic_map`` (see :mod:`ovperception.utils.panoptic`; crowd and unlabelled pixels are
VOID), ``gt_seg_map`` (class per pixel, crowd regions keep their class, 255 elsewhere) and
``is_thing``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np

from ovperception.datasets.base import DatasetNotFoundError, OVBaseDataset, require_path
from ovperception.datasets.transforms import BaseTransform
from ovperception.registry import DATASETS, TRANSFORMS
from ovperception.utils.image_io import load_image
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID, rgb_to_id

IGNORE_INDEX = 255


@DATASETS.register_module()
class COCOPanopticDataset(OVBaseDataset):
    """COCO panoptic images with their panoptic PNG annotations.

    Args:
        ann_file: panoptic JSON, relative to ``data_root``.
        data_prefix: ``dict(img_path=..., seg_map_path=...)`` (images, panoptic PNGs).
        **kwargs: ``data_root``, ``classnames_file`` (default ``'coco_panoptic'``: the 133
            names with synonyms, which must match the JSON's category count), ``pipeline``,
            ``test_mode`` ... (see ``OVBaseDataset``).
    """

    CLASSNAMES_FILE = 'coco_panoptic'

    def __init__(self, ann_file: str = 'annotations/panoptic_val2017.json',
                 data_prefix: dict | None = None, **kwargs: Any) -> None:
        prefix = data_prefix or dict(img_path='val2017',
                                     seg_map_path='annotations/panoptic_val2017')
        super().__init__(ann_file=ann_file, data_prefix=prefix, **kwargs)

    def load_data_list(self) -> list[dict]:
        """Read the JSON; one record per annotated image, segments mapped to class indices."""
        name = type(self).__name__
        require_path(self.ann_file, 'panoptic annotation JSON', name)
        img_dir = require_path(self.data_prefix.get('img_path', ''), 'image folder', name)
        png_dir = require_path(self.data_prefix.get('seg_map_path', ''), 'panoptic PNG folder',
                               name)
        with open(self.ann_file, encoding='utf-8') as handle:
            content = json.load(handle)
        categories = sorted(content['categories'], key=lambda c: c['id'])
        if len(categories) != len(self.classnames):
            raise DatasetNotFoundError(
                f'{name}: {self.ann_file} has {len(categories)} categories but the vocabulary '
                f'has {len(self.classnames)} classes; pass a matching classnames_file')
        class_of = {c['id']: index for index, c in enumerate(categories)}
        self.is_thing = [bool(c.get('isthing', 1)) for c in categories]
        self._metainfo.update(is_thing=list(self.is_thing), category_ids=list(class_of))
        images = {img['id']: img for img in content.get('images', [])}
        data_list = []
        for ann in content['annotations']:
            image = images.get(ann['image_id'], {})
            file_name = image.get('file_name', os.path.splitext(ann['file_name'])[0] + '.jpg')
            segments = [dict(id=int(s['id']), label=class_of[s['category_id']],
                             iscrowd=int(s.get('iscrowd', 0)))
                        for s in ann['segments_info']]
            data_list.append(dict(img_path=os.path.join(img_dir, file_name),
                                  seg_map_path=os.path.join(png_dir, ann['file_name']),
                                  segments_info=segments, is_thing=list(self.is_thing),
                                  reduce_zero_label=False,
                                  seg_fields=['gt_seg_map', 'gt_panoptic_map']))
        if not data_list:
            raise DatasetNotFoundError(f'{name}: no annotations in {self.ann_file}')
        return data_list


def decode_panoptic_png(ids: np.ndarray, segments: Sequence[dict],
                        is_thing: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """Segment-id image + segments -> (panoptic map, semantic map), both (H, W) int64.

    Things get instance ids 1, 2, ... in segment order; stuff instance id 0; crowd segments
    and ids not listed are VOID in the panoptic map; crowd keeps its class in the semantic
    map, unlisted ids are 255 there.
    """
    panoptic = np.full(ids.shape, VOID, dtype=np.int64)
    semantic = np.full(ids.shape, IGNORE_INDEX, dtype=np.int64)
    instance = 0
    for segment in segments:
        region = ids == segment['id']
        label = int(segment['label'])
        semantic[region] = label
        if segment.get('iscrowd'):
            continue
        if is_thing[label]:
            instance += 1
            panoptic[region] = label + instance * INSTANCE_OFFSET
        else:
            panoptic[region] = label
    return panoptic, semantic


@TRANSFORMS.register_module()
class LoadPanopticAnnotations(BaseTransform):
    """Read the panoptic PNG of a COCO-panoptic record into ``gt_panoptic_map`` and
    ``gt_seg_map`` (see :func:`decode_panoptic_png`)."""

    def transform(self, results: dict) -> dict:
        ids = rgb_to_id(load_image(results['seg_map_path'], max_pixels=None))
        panoptic, semantic = decode_panoptic_png(ids, results['segments_info'],
                                                 results['is_thing'])
        results['gt_panoptic_map'], results['gt_seg_map'] = panoptic, semantic
        return results


__all__ = ['COCOPanopticDataset', 'LoadPanopticAnnotations', 'decode_panoptic_png']
