"""Pixel counts at a fixed list of thresholds, accumulated one image at a time.

Every pixel metric of a category (ROC / PR / F1 and both PRO curves) is a function of, per
threshold ``t_k``, how many anomalous and normal pixels are predicted anomalous and the
PRO weight they carry. With the thresholds fixed in advance these are histograms over
"how many thresholds a pixel passes", so a category is evaluated image by image in
O(pixels of one image + number of thresholds) memory instead of concatenating every pixel
of the category in float64 and sorting it.

A pixel passes threshold ``t`` when ``score >= t`` (``strict=False``: sklearn's and the
MVTec curves' convention) or ``score > t`` (``strict=True``: cflow-ad / AnomalyCLIP's
``cal_pro_score``). Regions are 8-connected components of each image's mask (as
skimage ``measure.label`` and the MVTec code); PRO weights are ``1 / area`` per region
pixel, divided by the number of regions of the category at the end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy import ndimage

STRUCTURE_8 = np.ones((3, 3), dtype=bool)


@dataclass
class ThresholdCounts:
    """Counts at each threshold ``thresholds[k]`` (ascending).

    Attributes:
        thresholds: (K,) ascending thresholds.
        positives: (K,) anomalous (GT) pixels passing ``thresholds[k]``.
        negatives: (K,) normal pixels passing ``thresholds[k]``.
        pro: (K,) sum over region pixels passing of ``1 / region area`` (divide by
            ``num_regions`` for PRO).
        num_positive, num_negative, num_regions: totals.
    """

    thresholds: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    pro: np.ndarray
    num_positive: int
    num_negative: int
    num_regions: int


def _passes_per_bin(bins: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """From per-pixel "thresholds passed" counts to per-threshold totals (reverse cumsum)."""
    hist = np.bincount(bins, weights=weights, minlength=size + 1)
    # a pixel that passed b thresholds passes thresholds 0..b-1
    return np.cumsum(hist[::-1])[::-1][1:]


def thresholds_passed(values: np.ndarray, thresholds: np.ndarray, strict: bool) -> np.ndarray:
    """Per value, how many of the ascending ``thresholds`` it passes (``>`` or ``>=``).

    Equals ``np.searchsorted(thresholds, values, 'left' if strict else 'right')``. For
    (nearly) equally spaced thresholds the count is first estimated arithmetically and then
    corrected by comparisons with the neighbouring thresholds (several times faster than a
    binary search over many thresholds); values the correction cannot settle fall back to
    the binary search, so the result is always exact.
    """
    size = thresholds.size
    side = 'left' if strict else 'right'
    if size < 2:
        return np.searchsorted(thresholds, values, side=side)
    low, high = float(thresholds[0]), float(thresholds[-1])
    step = (high - low) / (size - 1)
    if not step > 0:
        return np.searchsorted(thresholds, values, side=side)

    def passes(index: np.ndarray) -> np.ndarray:
        limit = thresholds[index]
        return values > limit if strict else values >= limit

    estimate = np.floor((values.astype(np.float64) - low) / step) + 1
    count = np.clip(estimate, 0, size).astype(np.int64)
    for _ in range(2):
        count += (count < size) & passes(np.minimum(count, size - 1))
        count -= (count > 0) & ~passes(np.maximum(count - 1, 0))
    settled = (((count == size) | ~passes(np.minimum(count, size - 1)))
               & ((count == 0) | passes(np.maximum(count - 1, 0))))
    if not settled.all():
        count[~settled] = np.searchsorted(thresholds, values[~settled], side=side)
    return count


def count_at_thresholds(masks: Iterable[np.ndarray], maps: Iterable[np.ndarray],
                        thresholds: np.ndarray, strict: bool = False,
                        with_regions: bool = True) -> ThresholdCounts:
    """Stream over (mask, map) pairs and count pixels passing each threshold.

    Args:
        masks: per image (H_i, W_i) bool GT masks.
        maps: per image (H_i, W_i) scores (compared in their own dtype with ``thresholds``).
        thresholds: (K,) ascending thresholds.
        strict: pass means ``score > t`` (True) or ``score >= t`` (False).
        with_regions: also accumulate PRO weights (connected components).

    Raises:
        ValueError: shape mismatch or non-finite scores.
    """
    thresholds = np.asarray(thresholds)
    size = thresholds.size
    positives = np.zeros(size, np.int64)
    negatives = np.zeros(size, np.int64)
    pro = np.zeros(size, np.float64)
    totals = [0, 0, 0]
    for index, (mask, amap) in enumerate(zip(masks, maps)):
        mask, amap = np.asarray(mask, dtype=bool), np.asarray(amap)
        if mask.shape != amap.shape or mask.ndim != 2:
            raise ValueError(f'image {index}: GT mask shape {mask.shape} differs from anomaly '
                             f'map shape {amap.shape} (both must be the same (H, W))')
        if not np.all(np.isfinite(amap)):
            raise ValueError(f'image {index}: the anomaly map contains nan or inf')
        passed = thresholds_passed(amap.ravel(), thresholds, strict)
        flat_mask = mask.ravel()
        positives += _passes_per_bin(passed[flat_mask], size).astype(np.int64)
        negatives += _passes_per_bin(passed[~flat_mask], size).astype(np.int64)
        num_anomalous = int(flat_mask.sum())
        totals[0] += num_anomalous
        totals[1] += flat_mask.size - num_anomalous
        if with_regions and flat_mask.any():
            labels, num = ndimage.label(mask, structure=STRUCTURE_8)
            flat_labels = labels.ravel()[flat_mask]
            area = np.bincount(flat_labels, minlength=num + 1).astype(np.float64)
            pro += _passes_per_bin(passed[flat_mask], size, 1.0 / area[flat_labels])
            totals[2] += num
    return ThresholdCounts(thresholds, positives, negatives, pro, *totals)


def value_range(maps: Iterable[np.ndarray]) -> tuple[np.generic, np.generic]:
    """(min, max) over all maps, as scalars of the maps' dtype (one image at a time)."""
    low = high = None
    for amap in maps:
        amap = np.asarray(amap)
        low = amap.min() if low is None else min(low, amap.min())
        high = amap.max() if high is None else max(high, amap.max())
    if low is None:
        raise ValueError('no anomaly maps')
    return low, high
