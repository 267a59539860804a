"""Transforms for counting: point annotations stay consistent with resizes, crops and flips.

Keys (besides the segmentation keys of ``transforms.py``): ``gt_points`` (N, 2) float32
xy in pixels (a pixel ``i`` spans ``[i, i + 1)``), ``gt_point_labels`` (N,) int64 class
indices, ``exemplar_bboxes`` (E, 4) float32 xyxy (FSC-147's example boxes),
``ann_path`` + ``ann_format`` (files read by :class:`LoadPointAnnotations`).

A typical CLIP-EBC training pipeline::

    [dict(type=LoadImageFromFile), dict(type=LoadPointAnnotations),
     dict(type=PointsRandomResize, scale=(2048, 512), ratio_range=(0.75, 1.25)),
     dict(type=PointsRandomCrop, crop_size=(448, 448)), dict(type=PointsRandomFlip),
     dict(type=PackCountingInputs)]
"""
from __future__ import annotations

import numpy as np
import torch
from mmengine.structures import InstanceData

from ovperception.datasets.counting import read_point_annotation
from ovperception.datasets.transforms import (BaseTransform, PackOVInputs, RandomCrop, RandomFlip,
                                              RandomResize, ResizeShortSide, _resize_sample)
from ovperception.registry import TRANSFORMS


def _points(results: dict) -> np.ndarray | None:
    points = results.get('gt_points')
    return None if points is None else np.asarray(points, np.float32).reshape(-1, 2)


def _scale_geometry(results: dict) -> dict:
    """Scale points and exemplar boxes by the ``scale_factor`` (sy, sx) of the last resize."""
    scale_y, scale_x = results['scale_factor']
    points = _points(results)
    if points is not None:
        results['gt_points'] = points * np.array([scale_x, scale_y], np.float32)
    if results.get('exemplar_bboxes') is not None:
        boxes = np.asarray(results['exemplar_bboxes'], np.float32).reshape(-1, 4)
        results['exemplar_bboxes'] = boxes * np.array([scale_x, scale_y] * 2, np.float32)
    return results


@TRANSFORMS.register_module()
class LoadPointAnnotations(BaseTransform):
    """Read ``ann_path`` (format ``ann_format``) into ``gt_points`` / ``gt_point_labels``.

    A sample that already holds ``gt_points`` (in-memory datasets, FSC-147) passes
    through. A sample without ``ann_path`` (e.g. NWPU-Crowd's unreleased test labels)
    keeps no ground truth unless ``require=True``, which raises a clear error instead.
    """

    def __init__(self, require: bool = False) -> None:
        self.require = require

    def transform(self, results: dict) -> dict:
        if results.get('gt_points') is None:
            path = results.get('ann_path')
            if path is None:
                if self.require:
                    raise KeyError(f'{results.get("img_path", "sample")}: no point annotation '
                                   '(ann_path) for this image')
                return results
            results['gt_points'] = read_point_annotation(path, results['ann_format'])
        points = _points(results)
        results['gt_points'] = points
        if results.get('gt_point_labels') is None:
            results['gt_point_labels'] = np.zeros(len(points), np.int64)
        return results


@TRANSFORMS.register_module()
class PointsResizeShortSide(ResizeShortSide):
    """:class:`ResizeShortSide` that also scales ``gt_points`` and ``exemplar_bboxes``."""

    def transform(self, results: dict) -> dict:
        return _scale_geometry(super().transform(results))


@TRANSFORMS.register_module()
class PointsLimitSize(BaseTransform):
    """Downscale (never upscale) so the long side is at most ``max_long_side``.

    Keeps huge crowd images (UCF-QNRF, NWPU-Crowd: up to ~10k px) tractable; points and
    exemplar boxes are scaled with the image, so the count is unchanged.
    """

    def __init__(self, max_long_side: int = 2048) -> None:
        self.max_long_side = int(max_long_side)

    def transform(self, results: dict) -> dict:
        height, width = results['img'].shape[:2]
        factor = min(1.0, self.max_long_side / max(height, width))
        new_h, new_w = max(1, int(height * factor + 0.5)), max(1, int(width * factor + 0.5))
        return _scale_geometry(_resize_sample(results, new_h, new_w, with_seg=False))


@TRANSFORMS.register_module()
class PointsRandomResize(RandomResize):
    """:class:`RandomResize` that also scales ``gt_points`` and ``exemplar_bboxes``."""

    def transform(self, results: dict) -> dict:
        return _scale_geometry(super().transform(results))


@TRANSFORMS.register_module()
class PointsRandomCrop(RandomCrop):
    """Random crop of the image; points outside it are dropped, the rest shifted.

    Exemplar boxes are shifted and clipped to the crop (boxes that leave it keep a zero
    size). ``cat_max_ratio`` does not apply (no label map).
    """

    def transform(self, results: dict) -> dict:
        height, width = results['img'].shape[:2]
        y1, y2, x1, x2 = self._random_box(height, width)
        results['img'] = results['img'][y1:y2, x1:x2]
        crop_h, crop_w = results['img'].shape[:2]
        points = _points(results)
        if points is not None:
            shifted = points - np.array([x1, y1], np.float32)
            keep = ((shifted[:, 0] >= 0) & (shifted[:, 0] < crop_w) & (shifted[:, 1] >= 0)
                    & (shifted[:, 1] < crop_h))
            results['gt_points'] = shifted[keep]
            if results.get('gt_point_labels') is not None:
                results['gt_point_labels'] = np.asarray(results['gt_point_labels'])[keep]
        if results.get('exemplar_bboxes') is not None:
            boxes = np.asarray(results['exemplar_bboxes'], np.float32).reshape(-1, 4)
            boxes = boxes - np.array([x1, y1, x1, y1], np.float32)
            results['exemplar_bboxes'] = np.clip(boxes, 0, [crop_w, crop_h, crop_w, crop_h])
        results['img_shape'] = (crop_h, crop_w)
        return results


@TRANSFORMS.register_module()
class PointsRandomFlip(RandomFlip):
    """:class:`RandomFlip` that mirrors points (``x -> W - x``) and exemplar boxes."""

    def transform(self, results: dict) -> dict:
        height, width = results['img'].shape[:2]
        results = super().transform(results)
        if not results['flip']:
            return results
        axis, extent = (0, width) if self.direction == 'horizontal' else (1, height)
        points = _points(results)
        if points is not None:
            points = points.copy()
            points[:, axis] = extent - points[:, axis]
            results['gt_points'] = points
        if results.get('exemplar_bboxes') is not None:
            boxes = np.asarray(results['exemplar_bboxes'], np.float32).reshape(-1, 4).copy()
            low, high = extent - boxes[:, axis + 2], extent - boxes[:, axis]
            boxes[:, axis], boxes[:, axis + 2] = low, high
            results['exemplar_bboxes'] = boxes
        return results


@TRANSFORMS.register_module()
class PackCountingInputs(PackOVInputs):
    """:class:`PackOVInputs` plus the counting ground truth.

    Sets ``gt_instances`` (``points`` (N, 2) float32, ``labels`` (N,) int64) and
    ``gt_count`` (K,) float32 (points per class of the vocabulary) when the sample has
    points; ``exemplar_bboxes`` (E, 4) goes into the metainfo as a tensor.
    """

    DEFAULT_META_KEYS = PackOVInputs.DEFAULT_META_KEYS + ('exemplar_bboxes',)

    def __init__(self, meta_keys=DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys)

    def transform(self, results: dict) -> dict:
        if results.get('exemplar_bboxes') is not None:
            results['exemplar_bboxes'] = torch.as_tensor(
                np.asarray(results['exemplar_bboxes'], np.float32).reshape(-1, 4))
        packed = super().transform(results)
        points = _points(results)
        if points is not None:
            labels = results.get('gt_point_labels')
            labels = (np.zeros(len(points), np.int64) if labels is None
                      else np.asarray(labels, np.int64).reshape(-1))
            if len(labels) != len(points):
                raise ValueError(f'{len(points)} points but {len(labels)} point labels')
            if not np.isfinite(points).all():
                raise ValueError(f'{results.get("img_path", "sample")}: non-finite point '
                                 'coordinates in the annotation')
            num_classes = max(len(results.get('classnames') or ()), 1)
            sample = packed['data_samples']
            sample.gt_instances = InstanceData(points=torch.from_numpy(points.copy()),
                                               labels=torch.from_numpy(labels.copy()))
            sample.gt_count = torch.bincount(torch.from_numpy(labels.copy()),
                                             minlength=num_classes).float()[:num_classes]
        return packed
