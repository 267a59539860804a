"""Counting metrics: MAE and RMSE (and PseCo's NAE / SRE) over the images of a split.

With predicted counts ``p_i`` and ground-truth counts ``g_i`` (one per image and class):

    MAE  = mean |p_i - g_i|
    RMSE = sqrt(mean (p_i - g_i)^2)          (some repositories print this as "MSE")
    NAE  = mean |p_i - g_i| / g_i            (images with g_i = 0 skipped)
    SRE  = sqrt(mean (p_i - g_i)^2 / g_i)    (images with g_i = 0 skipped)
    accuracy = 100 * mean [round(p_i) == g_i] (CountBench's measure for CountCLIP)

Set ``prefix`` to the split (``'val'``, ``'test'``) so that both are reported side by side.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from ovperception.structures import sample_field
from ovperception.registry import METRICS

COUNT_METRICS = ('MAE', 'RMSE', 'NAE', 'SRE', 'accuracy')

__all__ = ['CountingMetric', 'counting_errors', 'best_count_threshold']


def counting_errors(pred: Sequence[float] | np.ndarray,
                    gt: Sequence[float] | np.ndarray) -> dict[str, float]:
    """MAE, RMSE, NAE, SRE and accuracy (%) of paired counts (known-answer tested).

    Raises:
        ValueError: no pairs, different lengths or non-finite values.
    """
    pred_arr = np.asarray(pred, dtype=np.float64).reshape(-1)
    gt_arr = np.asarray(gt, dtype=np.float64).reshape(-1)
    if pred_arr.shape != gt_arr.shape or pred_arr.size == 0:
        raise ValueError(f'need as many predicted as ground-truth counts (> 0), got '
                         f'{pred_arr.size} and {gt_arr.size}')
    if not (np.isfinite(pred_arr).all() and np.isfinite(gt_arr).all()):
        raise ValueError('non-finite counts: check the model output (NaN weights?)')
    error = pred_arr - gt_arr
    positive = gt_arr > 0
    return dict(MAE=float(np.abs(error).mean()), RMSE=float(np.sqrt((error ** 2).mean())),
                NAE=float((np.abs(error[positive]) / gt_arr[positive]).mean())
                if positive.any() else math.nan,
                SRE=float(np.sqrt((error[positive] ** 2 / gt_arr[positive]).mean()))
                if positive.any() else math.nan,
                accuracy=float(100.0 * (np.round(pred_arr) == gt_arr).mean()))


def best_count_threshold(scores: Sequence[np.ndarray], gt: Sequence[float],
                         thresholds: np.ndarray | None = None) -> tuple[float, float]:
    """PseCo's protocol: the detection-score threshold with the lowest MAE (pick it on val).

    Args:
        scores: per image, the (N_i,) scores of its detections (after NMS).
        gt: per image, the ground-truth count.
        thresholds: candidates (default ``0, 0.01, ..., 0.99``).

    Returns:
        ``(threshold, MAE at it)``; the lowest threshold wins ties.
    """
    thresholds = np.arange(0.0, 1.0, 0.01) if thresholds is None else np.asarray(thresholds)
    counts = np.array([[np.sum(np.asarray(s) > t) for t in thresholds] for s in scores])
    mae = np.abs(counts - np.asarray(gt, np.float64)[:, None]).mean(0)
    best = int(np.argmin(mae))
    return float(thresholds[best]), float(mae[best])


def _counts(sample: Any, key: str) -> np.ndarray | None:
    value = sample_field(sample, key)
    if value is None:
        return None
    return torch.as_tensor(value, dtype=torch.float64).reshape(-1).cpu().numpy()


@METRICS.register_module()
class CountingMetric(BaseMetric):
    """MAE / RMSE (optionally NAE / SRE) of ``pred_count`` against ``gt_count``.

    Each sample holds ``pred_count`` and ``gt_count`` as a scalar or a (K,) tensor (one
    count per class of its vocabulary); every element is one pair.

    Args:
        metrics: any of ``'MAE'``, ``'RMSE'``, ``'NAE'``, ``'SRE'``, ``'accuracy'``.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: metric name prefix, e.g. the split (``'val'`` -> ``val/MAE``).
        sweep_thresholds: also report ``best_threshold`` and ``MAE_at_best``: the
            detection-score threshold (over ``pred_instances.scores``, single-class
            vocabularies) with the lowest MAE, PseCo's way of choosing it on val.
    """

    #: No 'prefix/' before the metric names: they are reported as the papers name them
    #: ('mIoU', not 'seg/mIoU'); stated as '' (not None, which mmengine warns about).
    default_prefix: str | None = ''

    def __init__(self, metrics: Sequence[str] = ('MAE', 'RMSE'), collect_device: str = 'cpu',
                 prefix: str | None = None, sweep_thresholds: bool = False) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = set(metrics) - set(COUNT_METRICS)
        if unknown or not metrics:
            raise KeyError(f'metrics {sorted(unknown)} are not supported; choose from '
                           f'{COUNT_METRICS}')
        self.metrics = metrics
        self.sweep_thresholds = sweep_thresholds

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Collect (pred, gt) count pairs of a batch."""
        for sample in data_samples:
            pred, gt = _counts(sample, 'pred_count'), _counts(sample, 'gt_count')
            where = sample_field(sample, 'img_path', 'a sample')
            if pred is None:
                raise KeyError(f'CountingMetric: {where} has no pred_count')
            if gt is None:
                raise KeyError(f'CountingMetric: {where} has no gt_count (an image without '
                               'point annotations cannot be evaluated)')
            if pred.shape != gt.shape:
                raise ValueError(f'CountingMetric: {where}: pred_count {pred.shape} and '
                                 f'gt_count {gt.shape} differ')
            scores = None
            if self.sweep_thresholds:
                instances = sample_field(sample, 'pred_instances')
                if instances is None or 'scores' not in instances or len(gt) != 1:
                    raise KeyError(f'CountingMetric(sweep_thresholds=True): {where} needs '
                                   'pred_instances.scores and a one-class vocabulary')
                scores = torch.as_tensor(instances.scores).reshape(-1).tolist()
            self.results.append((pred.tolist(), gt.tolist(), scores))  # one entry per image

    def compute_metrics(self, results: list) -> dict[str, float]:
        """The chosen errors over all collected pairs."""
        pred = [value for image_pred, _, _ in results for value in image_pred]
        gt = [value for _, image_gt, _ in results for value in image_gt]
        errors = counting_errors(pred, gt)
        out = {name: errors[name] for name in self.metrics}
        if self.sweep_thresholds:
            out['best_threshold'], out['MAE_at_best'] = best_count_threshold(
                [np.asarray(scores) for _, _, scores in results], gt)
        MMLogger.get_current_instance().info(
            'counting: ' + ', '.join(f'{k} {v:.3f}' for k, v in out.items())
            + f' over {len(pred)} counts of {len(results)} images')
        return out
