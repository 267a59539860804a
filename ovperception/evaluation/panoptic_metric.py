"""Panoptic quality (Kirillov et al. 2019) with the COCO panopticapi conventions.

Per image, ground-truth and predicted segments (panoptic maps, see
:mod:`ovperception.utils.panoptic`; VOID = -1 is unlabelled) are matched when they have the
same class and IoU > 0.5 (such a match is unique). The union excludes the part of the
prediction lying on VOID ground truth. Unmatched ground-truth segments are false negatives;
unmatched predictions are false positives unless more than half of them lies on VOID.
Summed over the dataset, per class c:

    PQ_c = sum_{TP} IoU / (TP + FP/2 + FN/2) = SQ_c * RQ_c,
    SQ_c = sum_{TP} IoU / TP,   RQ_c = TP / (TP + FP/2 + FN/2),

and PQ / SQ / RQ are means over the classes with TP + FP + FN > 0 (all classes, things,
stuff).

Crowd regions follow panopticapi exactly: a crowd region of class c is neither matched nor a
false negative; it stays in the union of any match (only VOID is removed); an unmatched
prediction of class c is forgiven when more than half of it lies on VOID plus the crowd
region of class c (crowd of other classes does not count). COCOPanopticDataset writes crowd
as VOID in ``gt_panoptic_seg`` and keeps its class in ``gt_sem_seg``; the metric reads the
crowd regions from there (pixels VOID in the panoptic map but labelled in the semantic map).
panopticapi keeps one crowd segment per class and image (the COCO format has at most one);
here all crowd pixels of a class form that region.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from ovperception.structures import sample_field
from ovperception.registry import METRICS
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID


def _segments(panoptic: np.ndarray) -> dict[int, int]:
    """{segment id: area} of the non-VOID segments."""
    ids, areas = np.unique(panoptic[panoptic != VOID], return_counts=True)
    return dict(zip(ids.tolist(), areas.tolist()))


def crowd_regions(gt_panoptic: np.ndarray, gt_semantic: np.ndarray | None,
                  ignore_index: int = 255) -> np.ndarray | None:
    """(H, W) class of the crowd pixels (-1 elsewhere): VOID in the panoptic map but labelled
    in the semantic map (COCOPanopticDataset's encoding); None without a semantic map."""
    if gt_semantic is None or gt_semantic.shape != gt_panoptic.shape:
        return None
    crowd = (gt_panoptic == VOID) & (gt_semantic != ignore_index) & (gt_semantic >= 0)
    return np.where(crowd, gt_semantic, -1).astype(np.int64)


def pq_statistics(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                  crowd: np.ndarray | None = None) -> np.ndarray:
    """Per-class (TP, FP, FN, sum of TP IoUs) of one image: a (K, 4) float array.

    Args:
        pred, gt: (H, W) panoptic maps (``label + instance * INSTANCE_OFFSET``, VOID = -1).
        num_classes: K; labels must lie in [0, K).
        crowd: (H, W) class of crowd pixels, -1 elsewhere (those pixels must be VOID in
            ``gt``); None = no crowd.
    """
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and ground truth {gt.shape} differ in size')
    stats = np.zeros((num_classes, 4), dtype=np.float64)
    gt_segments, pred_segments = _segments(gt), _segments(pred)
    for segment in list(gt_segments) + list(pred_segments):
        if not 0 <= segment % INSTANCE_OFFSET < num_classes:
            raise ValueError(f'panoptic label {segment % INSTANCE_OFFSET} outside [0, '
                             f'{num_classes})')
    # ground-truth codes: segment ids, VOID (-1), crowd of class c (-2 - c)
    codes = gt.astype(np.int64)
    if crowd is not None:
        on_crowd = (crowd >= 0) & (gt == VOID)
        codes = np.where(on_crowd, -2 - crowd.astype(np.int64), codes)
    shift = num_classes + 2
    # joint ids: gt code x pred segment (or VOID) -> intersection areas
    offset = int(pred.max(initial=0)) + 2
    joint = (codes + shift) * offset + (pred.astype(np.int64) + 1)
    pair_ids, pair_areas = np.unique(joint, return_counts=True)
    intersections = {(int(g) - shift, int(p) - 1): int(a) for g, p, a in
                     zip(pair_ids // offset, pair_ids % offset, pair_areas)}
    matched_gt, matched_pred = set(), set()
    for (gt_id, pred_id), inter in intersections.items():
        if gt_id < 0 or pred_id == VOID:  # VOID or crowd ground truth is never matched
            continue
        if gt_id % INSTANCE_OFFSET != pred_id % INSTANCE_OFFSET:
            continue
        union = (pred_segments[pred_id] + gt_segments[gt_id] - inter
                 - intersections.get((VOID, pred_id), 0))
        iou = inter / union
        if iou > 0.5:
            label = gt_id % INSTANCE_OFFSET
            stats[label, 0] += 1
            stats[label, 3] += iou
            matched_gt.add(gt_id)
            matched_pred.add(pred_id)
    for gt_id in gt_segments:
        if gt_id not in matched_gt:
            stats[gt_id % INSTANCE_OFFSET, 2] += 1
    for pred_id, area in pred_segments.items():
        if pred_id in matched_pred:
            continue
        label = pred_id % INSTANCE_OFFSET
        forgiven = intersections.get((VOID, pred_id), 0) + intersections.get((-2 - label,
                                                                              pred_id), 0)
        if forgiven / area > 0.5:
            continue
        stats[pred_id % INSTANCE_OFFSET, 1] += 1
    return stats


def pq_summary(stats: np.ndarray, is_thing: Sequence[bool] | None = None) -> dict[str, Any]:
    """Dataset (K, 4) statistics -> PQ/SQ/RQ (percent) over all / things / stuff classes,
    plus per-class arrays (NaN for classes that never occur)."""
    tp, fp, fn, iou = stats.T
    denominator = tp + 0.5 * fp + 0.5 * fn
    present = denominator > 0
    with np.errstate(divide='ignore', invalid='ignore'):
        pq = np.where(present, iou / denominator, np.nan)
        sq = np.where(tp > 0, iou / np.maximum(tp, 1), np.where(present, 0.0, np.nan))
        rq = np.where(present, tp / denominator, np.nan)
    result: dict[str, Any] = {}
    groups = {'': np.ones(len(stats), dtype=bool)}
    if is_thing is not None:
        things = np.asarray(list(is_thing), dtype=bool)
        groups.update({'_th': things, '_st': ~things})
    for suffix, members in groups.items():
        chosen = present & members
        for name, values in (('PQ', pq), ('SQ', sq), ('RQ', rq)):
            result[name + suffix] = (round(float(np.mean(values[chosen])) * 100, 2)
                                     if chosen.any() else float('nan'))
    result['per_class'] = dict(PQ=pq, SQ=sq, RQ=rq)
    return result


@METRICS.register_module()
class PanopticMetric(BaseMetric):
    """PQ / SQ / RQ (all, things ``_th``, stuff ``_st``) from ``pred_panoptic_seg`` and
    ``gt_panoptic_seg``.

    Things/stuff come from ``is_thing`` in the dataset metainfo or the samples' metainfo
    (without it only the overall numbers are reported).

    Args:
        collect_device, prefix: mmengine ``BaseMetric`` arguments.
    """

    #: No 'prefix/' before the metric names: they are reported as the papers name them
    #: ('mIoU', not 'seg/mIoU'); stated as '' (not None, which mmengine warns about).
    default_prefix: str | None = ''

    def __init__(self, collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self._is_thing: list[bool] | None = None
        self._classnames: list[str] | None = None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            pred, gt = sample_field(sample, 'pred_panoptic_seg'), sample_field(sample, 'gt_panoptic_seg')
            if pred is None or gt is None:
                raise KeyError('PanopticMetric needs pred_panoptic_seg and gt_panoptic_seg '
                               '(a panoptic model and a dataset with panoptic labels)')
            classnames = list(sample_field(sample, 'classnames'))
            self._classnames = self._classnames or classnames
            self._is_thing = self._is_thing or sample_field(sample, 'is_thing')
            as_array = (lambda f: torch.as_tensor(f.data if hasattr(f, 'data') else f['data'])
                        .squeeze(0).cpu().numpy())
            semantic = sample_field(sample, 'gt_sem_seg')
            gt_map = as_array(gt)
            crowd = crowd_regions(gt_map, as_array(semantic) if semantic is not None else None)
            self.results.append(pq_statistics(as_array(pred), gt_map, len(classnames), crowd))

    def compute_metrics(self, results: list[np.ndarray]) -> dict[str, float]:
        stats = np.sum(results, axis=0)
        is_thing = (self.dataset_meta or {}).get('is_thing', self._is_thing)
        summary = pq_summary(stats, is_thing)
        per_class = summary.pop('per_class')
        names = self._classnames or [str(k) for k in range(len(stats))]
        lines = [f'{"class":<24}{"PQ":>8}{"SQ":>8}{"RQ":>8}']
        for index, name in enumerate(names):
            if not np.isnan(per_class['PQ'][index]):
                lines.append(f'{name.split(";")[0][:23]:<24}' + ''.join(
                    f'{per_class[k][index] * 100:8.2f}' for k in ('PQ', 'SQ', 'RQ')))
        print_log('per-class panoptic quality:\n' + '\n'.join(lines),
                  logger=MMLogger.get_current_instance())
        return OrderedDict(summary)


__all__ = ['PanopticMetric', 'crowd_regions', 'pq_statistics', 'pq_summary']
