"""Data sample carried through every ovperception pipeline.

``OVDataSample`` keeps mmseg's ``SegDataSample`` and mmdet's ``DetDataSample``
field names (``gt_sem_seg``, ``pred_sem_seg``, ``seg_logits``, ``gt_instances``,
``pred_instances``) so that metrics and visualisers written for those
libraries read it unchanged, and adds the fields of the other tasks.

Metainfo keys used across the framework:
    classnames (list[str]): the vocabulary of this sample; an entry may hold
        synonyms separated by ``';'`` (``"person; man; woman"``).
    img_path, ori_shape (H, W), img_shape (h, w) after resizing,
    scale_factor (sy, sx), label_names (list[str]) after prediction.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from mmengine.structures import BaseDataElement, InstanceData, PixelData
from torch import Tensor


def _typed_property(name: str, kind: type, doc: str) -> property:
    """Build a data field property that type-checks its value on assignment."""

    def getter(self: BaseDataElement):
        return getattr(self, f'_{name}')

    def setter(self: BaseDataElement, value) -> None:
        self.set_field(value, f'_{name}', dtype=kind)

    def deleter(self: BaseDataElement) -> None:
        delattr(self, f'_{name}')

    return property(getter, setter, deleter, doc)


class OVDataSample(BaseDataElement):
    """One image's ground truth and predictions for any ovperception task.

    Data fields (all optional):
        gt_sem_seg / pred_sem_seg (PixelData): ``data`` (1, H, W) long class indices;
            255 marks ignored / unlabelled pixels. A head with ``compact_labels`` (the demo,
            ``tools/annotate.py`` and the web app ask for it) gives ``pred_sem_seg`` as the
            smallest integer type holding its labels (uint8 up to 255 classes).
        seg_logits (PixelData): ``data`` (K, h, w) per-class scores.
        gt_panoptic_seg / pred_panoptic_seg (PixelData): ``data`` (1, H, W) segment ids.
        gt_instances / pred_instances (InstanceData): ``bboxes`` (N, 4) xyxy,
            ``labels`` (N,), ``scores`` (N,), optional ``masks`` (N, H, W) and ``points``.
        gt_density / pred_density (PixelData): ``data`` (1, h, w) density map.
        gt_count / pred_count (Tensor): scalar object count.
        gt_anomaly_map / pred_anomaly_map (PixelData): ``data`` (1, H, W) anomaly scores.
        gt_score / pred_score (Tensor): scalar image-level score (e.g. anomaly).
    """

    gt_sem_seg = _typed_property('gt_sem_seg', PixelData, 'Ground-truth semantic map.')
    pred_sem_seg = _typed_property('pred_sem_seg', PixelData, 'Predicted semantic map.')
    seg_logits = _typed_property('seg_logits', PixelData, 'Per-class segmentation scores.')
    gt_panoptic_seg = _typed_property('gt_panoptic_seg', PixelData, 'Ground-truth panoptic map.')
    pred_panoptic_seg = _typed_property('pred_panoptic_seg', PixelData, 'Predicted panoptic map.')
    gt_instances = _typed_property('gt_instances', InstanceData, 'Ground-truth instances.')
    pred_instances = _typed_property('pred_instances', InstanceData, 'Predicted instances.')
    gt_density = _typed_property('gt_density', PixelData, 'Ground-truth density map.')
    pred_density = _typed_property('pred_density', PixelData, 'Predicted density map.')
    gt_count = _typed_property('gt_count', Tensor, 'Ground-truth object count.')
    pred_count = _typed_property('pred_count', Tensor, 'Predicted object count.')
    gt_anomaly_map = _typed_property('gt_anomaly_map', PixelData, 'Ground-truth anomaly mask.')
    pred_anomaly_map = _typed_property('pred_anomaly_map', PixelData, 'Predicted anomaly map.')
    gt_score = _typed_property('gt_score', Tensor, 'Ground-truth image-level label/score.')
    pred_score = _typed_property('pred_score', Tensor, 'Predicted image-level score.')


SampleList = Sequence[OVDataSample]


def sample_field(sample: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a data sample given as ``BaseDataElement`` or as the dict the
    mmengine ``Evaluator`` passes (fields first, then ``metainfo``)."""
    if isinstance(sample, BaseDataElement):
        return sample.get(key, default)
    if isinstance(sample, Mapping):
        if key in sample:
            return sample[key]
        return sample.get('metainfo', {}).get(key, default)
    return default


#: Metainfo keys of an image-level count by number prompts (CountCLIP): (K,) counts and
#: (K, N) probabilities over the candidate numbers, next to a dense counter's ``pred_count``.
IMAGE_COUNT_KEY = 'image_level_count'
IMAGE_COUNT_PROBABILITIES_KEY = 'image_level_count_probabilities'


def image_level_counts(sample: OVDataSample) -> np.ndarray | None:
    """The (K,) float64 image-level counts by number prompts in ``sample``'s metainfo
    (:data:`IMAGE_COUNT_KEY`), or None when no number-prompt counter gave them."""
    from ovperception.utils.annotations import to_numpy
    value = sample.metainfo.get(IMAGE_COUNT_KEY)
    return None if value is None else to_numpy(value).astype(np.float64).reshape(-1)


def display_names(metainfo: dict) -> list[str]:
    """Display names of a sample's classes: its ``label_names`` (set by the heads), else the
    first synonym of each ``classnames`` entry; empty when it has neither."""
    names = metainfo.get('label_names')
    if names:
        return [str(name) for name in names]
    return [str(entry).split(';')[0].strip() for entry in metainfo.get('classnames') or []]
