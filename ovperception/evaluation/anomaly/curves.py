"""Vectorised ROC / PR statistics for anomaly detection (numpy only).

All functions rank by score with ties handled exactly like scikit-learn's
``roc_auc_score`` / ``average_precision_score``: samples with equal scores are
one threshold, so a tie between a positive and a negative contributes 0.5 to
AUROC (the ROC curve takes a diagonal step through it).

Labels are binary (anything non-zero / ``True`` is anomalous = positive).
Undefined cases raise ``ValueError`` naming the category:

* AUROC needs both anomalous and normal samples;
* AP and F1-max need at least one anomalous sample (with only anomalous
  samples they are well defined and equal 1).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ArrayLike = np.ndarray | Sequence[float]


def _prepare(labels: ArrayLike, scores: ArrayLike, level: str,
             category: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Flattened ``(bool labels, float64 scores)`` after shape and finiteness checks."""
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    if labels.shape != scores.shape:
        what = 'masks' if level == 'pixel' else 'labels'
        raise ValueError(f'{level}-level {what} shape {labels.shape} differs from scores '
                         f'shape {scores.shape}' + (f' (category {category})' if category else ''))
    scores = scores.ravel().astype(np.float64, copy=False)
    if not np.all(np.isfinite(scores)):
        raise ValueError(f'{level}-level scores contain nan or inf'
                         + (f' (category {category})' if category else ''))
    return labels.ravel().astype(bool, copy=False), scores


def _undefined(metric: str, category: str | None, level: str, missing: str) -> ValueError:
    unit = 'images' if level == 'image' else 'pixels'
    name = category if category is not None else 'all'
    return ValueError(f'{metric} is undefined for category {name}: it has no {missing} {unit} '
                      f'({level} level)')


def binary_clf_curve(labels: ArrayLike, scores: ArrayLike, level: str = 'image',
                     category: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative FP / TP counts at every distinct score threshold (descending).

    Args:
        labels: (N,) or any shape, binary ground truth (anomalous = positive).
        scores: same shape as ``labels``, higher = more anomalous.

    Returns:
        ``(fps, tps, thresholds)``, each (T,) with T = number of distinct scores;
        entry i counts samples with ``score >= thresholds[i]``.
    """
    labels, scores = _prepare(labels, scores, level, category)
    # ties need no stable order: sums are read at the last index of each run of equal scores
    order = np.argsort(scores)[::-1]
    scores = scores[order]
    labels = labels[order]
    # last index of each run of equal scores
    last = np.flatnonzero(np.diff(scores)) if scores.size > 1 else np.empty(0, np.int64)
    last = np.r_[last, scores.size - 1]
    tps = np.cumsum(labels, dtype=np.int64)[last]
    fps = (last + 1) - tps
    return fps, tps, scores[last]


def roc_auc(labels: ArrayLike, scores: ArrayLike, level: str = 'image',
            category: str | None = None) -> float:
    """Area under the ROC curve (trapezoid over all distinct thresholds), in [0, 1].

    Raises:
        ValueError: no anomalous or no normal samples, or shape mismatch.
    """
    fps, tps, _ = binary_clf_curve(labels, scores, level, category)
    return roc_auc_from_counts(fps, tps, level, category)


def roc_auc_from_counts(fps: np.ndarray, tps: np.ndarray, level: str = 'pixel',
                        category: str | None = None) -> float:
    """AUROC from cumulative (FP, TP) counts at descending thresholds (last = all samples)."""
    if tps[-1] == 0:
        raise _undefined('AUROC', category, level, 'anomalous')
    if fps[-1] == 0:
        raise _undefined('AUROC', category, level, 'normal')
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)


def _precision_recall_from_counts(fps: np.ndarray, tps: np.ndarray, metric: str, level: str,
                                  category: str | None) -> tuple[np.ndarray, np.ndarray]:
    keep = (fps + tps) > 0  # thresholds above every score (empty bins) are no PR points
    fps, tps = fps[keep], tps[keep]
    if tps.size == 0 or tps[-1] == 0:
        raise _undefined(metric, category, level, 'anomalous')
    precision = tps / (tps + fps)  # tps + fps >= 1 at every threshold
    recall = tps / tps[-1]
    return precision, recall


def average_precision(labels: ArrayLike, scores: ArrayLike, level: str = 'image',
                      category: str | None = None) -> float:
    """AP = sum_i (R_i - R_{i-1}) P_i over distinct thresholds (sklearn's definition)."""
    fps, tps, _ = binary_clf_curve(labels, scores, level, category)
    return average_precision_from_counts(fps, tps, level, category)


def average_precision_from_counts(fps: np.ndarray, tps: np.ndarray, level: str = 'pixel',
                                  category: str | None = None) -> float:
    """AP from cumulative (FP, TP) counts at descending thresholds."""
    precision, recall = _precision_recall_from_counts(fps, tps, 'AP', level, category)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def f1_max(labels: ArrayLike, scores: ArrayLike, level: str = 'image',
           category: str | None = None) -> float:
    """Maximum over all thresholds of F1 = 2PR / (P + R) (non-finite values ignored)."""
    fps, tps, _ = binary_clf_curve(labels, scores, level, category)
    return f1_max_from_counts(fps, tps, level, category)


def f1_max_from_counts(fps: np.ndarray, tps: np.ndarray, level: str = 'pixel',
                       category: str | None = None) -> float:
    """F1-max from cumulative (FP, TP) counts at descending thresholds."""
    precision, recall = _precision_recall_from_counts(fps, tps, 'F1-max', level, category)
    with np.errstate(divide='ignore', invalid='ignore'):
        f1 = 2 * precision * recall / (precision + recall)
    f1 = f1[np.isfinite(f1)]
    return float(f1.max()) if f1.size else 0.0


def image_auroc(labels: ArrayLike, scores: ArrayLike, category: str | None = None) -> float:
    """Image AUROC. ``labels``/``scores``: (N,)."""
    return roc_auc(labels, scores, 'image', category)


def image_ap(labels: ArrayLike, scores: ArrayLike, category: str | None = None) -> float:
    """Image average precision. ``labels``/``scores``: (N,)."""
    return average_precision(labels, scores, 'image', category)


def image_f1_max(labels: ArrayLike, scores: ArrayLike, category: str | None = None) -> float:
    """Image F1-max. ``labels``/``scores``: (N,)."""
    return f1_max(labels, scores, 'image', category)


def pixel_auroc(masks: ArrayLike, anomaly_maps: ArrayLike, category: str | None = None) -> float:
    """Pixel AUROC over all pixels. ``masks`` (N, H, W) bool, ``anomaly_maps`` (N, H, W)."""
    return roc_auc(masks, anomaly_maps, 'pixel', category)


def pixel_ap(masks: ArrayLike, anomaly_maps: ArrayLike, category: str | None = None) -> float:
    """Pixel AP over all pixels. ``masks`` (N, H, W) bool, ``anomaly_maps`` (N, H, W)."""
    return average_precision(masks, anomaly_maps, 'pixel', category)


def pixel_f1_max(masks: ArrayLike, anomaly_maps: ArrayLike, category: str | None = None) -> float:
    """Pixel F1-max over all pixels. ``masks`` (N, H, W) bool, ``anomaly_maps`` (N, H, W)."""
    return f1_max(masks, anomaly_maps, 'pixel', category)
