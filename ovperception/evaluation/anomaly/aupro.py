"""Area under the per-region-overlap (PRO) curve: ``variant='mvtec'`` (exact) or
``variant='thresholded'`` (cflow-ad / AnomalyCLIP / APRIL-GAN / Accurate-WinCLIP).

Definitions (MVTec AD, Bergmann et al.):

* regions: 8-connected components (``scipy.ndimage.label`` with a 3x3 ones
  structure, the default of skimage ``measure.label`` / cv2
  ``connectedComponents`` used by the reference code) of each image's GT
  mask; regions never span two images;
* at a threshold t the predicted mask is ``anomaly_map >= t``;
  ``PRO(t)`` = mean over **all regions of all images** of
  ``|region & pred| / |region|``; ``FPR(t)`` = false-positive pixels over all
  normal (GT = 0) pixels of all images;
* AUPRO = trapezoid area under PRO(FPR) for FPR in [0, fpr_limit], the curve
  linearly interpolated at FPR = fpr_limit, divided by ``fpr_limit``.

Variant: this is the **exact** curve of the MVTec AD evaluation code
(``generic_util.compute_pro`` + ``trapezoid_area``): every distinct score is a
threshold, the curve starts at (0, 0), and the last segment is interpolated
at the limit. It is computed without a threshold loop: pixels are sorted by
score once, each anomalous pixel contributes ``1 / (area(region) * n_regions)``
to PRO and each normal pixel ``1 / n_normal`` to FPR (region areas via
``np.bincount``), and cumulative sums are read at the last index of each run
of equal scores. It is *not* cflow-ad's / AnomalyCLIP's ``cal_pro_score``
(200 bins, min-max rescaled FPR) and not anomalib's per-region ROC averaging;
small numeric differences to those are expected. ``num_thresholds`` evaluates
the same curve at that many equally spaced thresholds between the minimum and
maximum score instead (a binned approximation computed image by image in bounded
memory, :mod:`.threshold_counts`).

``variant='thresholded'`` is ``cal_pro_score`` of AnomalyCLIP's ``metrics.py`` (from
cflow-ad), reproduced exactly and computed image by image: thresholds
``np.arange(min, max, (max - min) / max_step)`` in the maps' dtype (200 steps), a pixel
is anomalous when ``score > t``, PRO is the mean over all regions of the category, only
thresholds with ``FPR < fpr_limit`` are kept, their FPRs are min-max rescaled to [0, 1]
and the area is the trapezoid rule (sklearn ``auc``). Tested against numbers of the
official function (tests/fixtures/golden/anomaly_metrics).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

from .threshold_counts import count_at_thresholds, value_range

_STRUCTURE_8 = np.ones((3, 3), dtype=bool)  # 8-connectivity inside one image


def _as_stacks(masks: np.ndarray | Sequence[np.ndarray],
               anomaly_maps: np.ndarray | Sequence[np.ndarray],
               keep_dtype: bool = False) -> tuple[list, list]:
    """Per-image (H_i, W_i) arrays after checking that mask and map shapes agree."""
    masks = list(masks) if not isinstance(masks, np.ndarray) or masks.ndim == 3 else [masks]
    maps = (list(anomaly_maps) if not isinstance(anomaly_maps, np.ndarray)
            or anomaly_maps.ndim == 3 else [anomaly_maps])
    if len(masks) != len(maps):
        raise ValueError(f'got {len(masks)} masks but {len(maps)} anomaly maps')
    out_masks, out_maps = [], []
    for i, (mask, amap) in enumerate(zip(masks, maps)):
        mask, amap = np.asarray(mask), np.asarray(amap)
        if mask.shape != amap.shape or mask.ndim != 2:
            raise ValueError(f'image {i}: GT mask shape {mask.shape} differs from anomaly map '
                             f'shape {amap.shape} (both must be the same (H, W))')
        out_masks.append(mask.astype(bool, copy=False))
        out_maps.append(amap if keep_dtype else amap.astype(np.float64, copy=False))
    return out_masks, out_maps


def pro_curve(masks: np.ndarray | Sequence[np.ndarray],
              anomaly_maps: np.ndarray | Sequence[np.ndarray],
              num_thresholds: int | None = None,
              category: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The PRO curve of a set of images.

    Args:
        masks: (N, H, W) bool GT masks (or a list of (H_i, W_i)).
        anomaly_maps: (N, H, W) float scores, same shapes as ``masks``.
        num_thresholds: None = every distinct score; else that many equally
            spaced thresholds in [min, max].
        category: name used in error messages.

    Returns:
        ``(fpr, pro)``, each (T + 1,), FPR non-decreasing, starting at (0, 0).

    Raises:
        ValueError: shape mismatch, no anomalous or no normal pixels.
    """
    name = category if category is not None else 'all'
    if num_thresholds is not None:
        return _binned_pro_curve(*_as_stacks(masks, anomaly_maps, keep_dtype=True),
                                 int(num_thresholds), name)
    masks, maps = _as_stacks(masks, anomaly_maps)
    labels, offset = [], 0
    for mask in masks:
        lab, num = ndimage.label(mask, structure=_STRUCTURE_8)
        labels.append(np.where(lab > 0, lab + offset, 0).ravel())
        offset += num
    if offset == 0:
        raise ValueError(f'AUPRO is undefined for category {name}: it has no anomalous pixels '
                         f'(no GT regions)')
    regions = np.concatenate(labels)
    scores = np.concatenate([m.ravel() for m in maps])
    if not np.all(np.isfinite(scores)):
        raise ValueError(f'AUPRO: anomaly maps of category {name} contain nan or inf')
    normal = regions == 0
    num_normal = int(normal.sum())
    if num_normal == 0:
        raise ValueError(f'AUPRO is undefined for category {name}: it has no normal pixels')
    area = np.bincount(regions, minlength=offset + 1).astype(np.float64)
    area[0] = np.inf  # normal pixels contribute nothing to PRO
    pro_weight = 1.0 / (area[regions] * offset)
    fp_weight = normal / num_normal

    # ties need no stable order: sums are read at the last index of each run of equal scores
    order = np.argsort(scores)[::-1]
    scores = scores[order]
    pro_cum = np.cumsum(pro_weight[order])
    fp_cum = np.cumsum(fp_weight[order])
    idx = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    fpr = np.r_[0.0, fp_cum[idx]]
    pro = np.r_[0.0, pro_cum[idx]]
    return np.minimum(fpr, 1.0), np.minimum(pro, 1.0)


def _binned_pro_curve(masks: list[np.ndarray], maps: list[np.ndarray], num_thresholds: int,
                      name: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pro_curve` at equally spaced thresholds, one image at a time."""
    low, high = value_range(maps)
    thresholds = np.linspace(float(low), float(high), num_thresholds)
    counts = count_at_thresholds(masks, maps, thresholds)
    if counts.num_regions == 0:
        raise ValueError(f'AUPRO is undefined for category {name}: it has no anomalous pixels '
                         f'(no GT regions)')
    if counts.num_negative == 0:
        raise ValueError(f'AUPRO is undefined for category {name}: it has no normal pixels')
    fpr = np.r_[0.0, counts.negatives[::-1] / counts.num_negative]
    pro = np.r_[0.0, counts.pro[::-1] / counts.num_regions]
    return np.minimum(fpr, 1.0), np.minimum(pro, 1.0)


def area_under_limit(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    """Trapezoid area under y(x) for x in [x[0], x_max], interpolating y at ``x_max``.

    ``x`` must be non-decreasing; repeated x values (vertical steps) add no area.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    inside = int(np.searchsorted(x, x_max, side='right'))  # points with x <= x_max
    xs, ys = x[:inside], y[:inside]
    if inside < x.size and (inside == 0 or xs[-1] < x_max):
        x0, y0 = (xs[-1], ys[-1]) if inside else (x[0], y[0])
        x1, y1 = x[inside], y[inside]
        y_lim = y0 + (y1 - y0) * (x_max - x0) / (x1 - x0) if x1 > x0 else y1
        xs, ys = np.r_[xs, x_max], np.r_[ys, y_lim]
    if xs.size < 2:
        return 0.0
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1])) / 2.0)


AUPRO_VARIANTS = ('mvtec', 'thresholded')


def thresholded_aupro(masks: np.ndarray | Sequence[np.ndarray],
                      anomaly_maps: np.ndarray | Sequence[np.ndarray],
                      fpr_limit: float = 0.3, max_step: int = 200,
                      category: str | None = None) -> float:
    """AnomalyCLIP's ``cal_pro_score`` (cflow-ad): see the module docstring.

    Args:
        masks: (N, H, W) bool GT masks (or a list of (H_i, W_i) arrays).
        anomaly_maps: (N, H, W) anomaly maps, same shapes (float32 as the official code).
        fpr_limit: keep thresholds with FPR strictly below this (0.3).
        max_step: number of threshold steps (200).
        category: name used in error messages.

    Raises:
        ValueError: no anomalous or no normal pixels, constant maps, or fewer than two
            distinct FPRs under the limit (the official code returns nan there).
    """
    masks, maps = _as_stacks(masks, anomaly_maps, keep_dtype=True)
    name = category if category is not None else 'all'
    low, high = value_range(maps)
    if not high > low:
        raise ValueError(f'thresholded AUPRO is undefined for category {name}: the anomaly '
                         'maps are constant')
    thresholds = np.arange(low, high, (high - low) / max_step)
    counts = count_at_thresholds(masks, maps, thresholds, strict=True)
    if counts.num_regions == 0:
        raise ValueError(f'AUPRO is undefined for category {name}: it has no anomalous pixels '
                         '(no GT regions)')
    if counts.num_negative == 0:
        raise ValueError(f'AUPRO is undefined for category {name}: it has no normal pixels')
    fprs = counts.negatives / counts.num_negative
    pros = counts.pro / counts.num_regions
    keep = fprs < fpr_limit
    fprs, pros = fprs[keep], pros[keep]
    if fprs.size < 2 or fprs.max() == fprs.min():
        raise ValueError(f'thresholded AUPRO is undefined for category {name}: fewer than two '
                         f'distinct FPRs below {fpr_limit}')
    fprs = (fprs - fprs.min()) / (fprs.max() - fprs.min())
    # sklearn.metrics.auc: trapezoid rule, FPR here decreases with the threshold
    return float(-np.sum(np.diff(fprs) * (pros[1:] + pros[:-1])) / 2.0)


def aupro(masks: np.ndarray | Sequence[np.ndarray],
          anomaly_maps: np.ndarray | Sequence[np.ndarray],
          fpr_limit: float = 0.3, num_thresholds: int | None = None,
          category: str | None = None, variant: str = 'mvtec', max_step: int = 200) -> float:
    """Normalised AUPRO in [0, 1] (see the module docstring for both variants).

    Args:
        masks: (N, H, W) bool GT masks (or a list of (H_i, W_i) arrays).
        anomaly_maps: (N, H, W) float anomaly maps, same shapes.
        fpr_limit: upper FPR integration limit, in (0, 1].
        num_thresholds: ``'mvtec'``: None for the exact curve, else equally spaced
            thresholds (bounded memory).
        category: name used in error messages.
        variant: ``'mvtec'`` (exact MVTec AD integral) or ``'thresholded'`` (AnomalyCLIP's
            200-step PRO, FPRs below the limit rescaled to [0, 1]).
        max_step: ``'thresholded'``: threshold steps.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f'fpr_limit must be in (0, 1], got {fpr_limit}')
    if variant not in AUPRO_VARIANTS:
        raise ValueError(f'AUPRO variant must be one of {AUPRO_VARIANTS}, got {variant!r}')
    if variant == 'thresholded':
        return thresholded_aupro(masks, anomaly_maps, fpr_limit, max_step, category)
    fpr, pro = pro_curve(masks, anomaly_maps, num_thresholds, category)
    return area_under_limit(fpr, pro, fpr_limit) / fpr_limit
