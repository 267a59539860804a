"""Detection transforms: instance annotations -> arrays -> ``gt_instances`` (mmdet key names).

``LoadDetAnnotations`` turns mmdet-style ``instances`` records (``bbox`` xyxy,
``bbox_label``, ``ignore_flag``, optional ``mask`` as COCO polygons or RLE) into
``gt_bboxes`` (N, 4) float32, ``gt_bboxes_labels`` (N,) int64, ``gt_ignore_flags``
(N,) bool and optionally ``gt_masks`` (N, H, W) bool. ``PackOVDetInputs`` packs them
into ``OVDataSample.gt_instances`` (``bboxes``, ``labels``, ``ignore_flags``,
``masks``). Boxes stay in original-image pixels: heads rescale predictions to
``ori_shape`` and training losses rescale targets by ``img_shape / ori_shape``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from mmengine.structures import InstanceData
from pycocotools import mask as mask_util

from ovperception.datasets.transforms import BaseTransform, PackOVInputs, RandomFlip
from ovperception.registry import TRANSFORMS


def decode_instance_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """COCO polygons ``[[x, y, ...], ...]``, RLE dict or (H, W) array -> (H, W) bool."""
    if isinstance(segmentation, np.ndarray):
        return segmentation.astype(bool)
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        rle = mask_util.merge(mask_util.frPyObjects(polygons, height, width))
    elif isinstance(segmentation.get('counts'), list):
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        counts = segmentation['counts']
        rle = dict(size=segmentation['size'],
                   counts=counts.encode('ascii') if isinstance(counts, str) else counts)
    return mask_util.decode(rle).astype(bool)


@TRANSFORMS.register_module()
class LoadDetAnnotations(BaseTransform):
    """``instances`` -> ``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags`` [, ``gt_masks``].

    Args:
        with_mask: also decode instance masks (at ``ori_shape``).

    Samples that already hold ``gt_bboxes`` (e.g. ``SyntheticDetDataset``) pass through.
    """

    def __init__(self, with_mask: bool = False) -> None:
        self.with_mask = with_mask

    def transform(self, results: dict) -> dict:
        if 'gt_bboxes' in results:
            if not self.with_mask:
                results.pop('gt_masks', None)
            return results
        instances = results.get('instances')
        if instances is None:
            raise KeyError('LoadDetAnnotations: the sample has neither "instances" nor '
                           '"gt_bboxes"')
        boxes = np.array([inst['bbox'] for inst in instances], dtype=np.float32).reshape(-1, 4)
        results['gt_bboxes'] = boxes
        results['gt_bboxes_labels'] = np.array([inst['bbox_label'] for inst in instances],
                                               dtype=np.int64)
        results['gt_ignore_flags'] = np.array([bool(inst.get('ignore_flag', 0))
                                               for inst in instances], dtype=bool)
        if self.with_mask:
            height, width = results['ori_shape'][:2]
            masks = [decode_instance_mask(inst.get('mask', []), height, width)
                     for inst in instances]
            results['gt_masks'] = (np.stack(masks) if masks
                                   else np.zeros((0, height, width), dtype=bool))
        return results


@TRANSFORMS.register_module()
class DetRandomFlip(RandomFlip):
    """:class:`RandomFlip` that also flips ``gt_bboxes`` and ``gt_masks``.

    Boxes and masks live in original-image pixels, so they are mirrored about the
    original width (height): ``x1' = W0 - x2``, ``x2' = W0 - x1``. Use it after
    ``LoadDetAnnotations``.
    """

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if not results['flip']:
            return results
        height, width = results['ori_shape'][:2]
        horizontal = self.direction == 'horizontal'
        if results.get('gt_bboxes') is not None:
            boxes = np.asarray(results['gt_bboxes'], dtype=np.float32).copy()
            if horizontal:
                boxes[:, [0, 2]] = width - boxes[:, [2, 0]]
            else:
                boxes[:, [1, 3]] = height - boxes[:, [3, 1]]
            results['gt_bboxes'] = boxes
        if results.get('gt_masks') is not None:
            results['gt_masks'] = np.flip(results['gt_masks'], axis=2 if horizontal else 1)
        return results


@TRANSFORMS.register_module()
class PackOVDetInputs(PackOVInputs):
    """:class:`PackOVInputs` plus ``gt_instances`` from the ``gt_*`` arrays, and ``img_id``."""

    DEFAULT_META_KEYS = PackOVInputs.DEFAULT_META_KEYS + ('img_id',)

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        super().__init__(meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'gt_bboxes' in results:
            boxes = np.asarray(results['gt_bboxes'], dtype=np.float32).reshape(-1, 4)
            instances = InstanceData(
                bboxes=torch.from_numpy(boxes),
                labels=torch.as_tensor(np.asarray(results['gt_bboxes_labels']), dtype=torch.long),
                ignore_flags=torch.as_tensor(np.asarray(
                    results.get('gt_ignore_flags', np.zeros(len(boxes), bool))), dtype=torch.bool))
            if results.get('gt_masks') is not None:
                instances.masks = torch.as_tensor(np.ascontiguousarray(results['gt_masks']),
                                                  dtype=torch.bool)
            packed['data_samples'].gt_instances = instances
        return packed


__all__ = ['LoadDetAnnotations', 'DetRandomFlip', 'PackOVDetInputs', 'decode_instance_mask']
