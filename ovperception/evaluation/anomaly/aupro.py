"""Area under the per-region-overlap (PRO) curve, exact variant.

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
the same exact curve at that many equally spaced thresholds between the
minimum and maximum score instead (a binned approximation, cheaper to plot).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

_STRUCTURE_8 = np.ones((3, 3), dtype=bool)  # 8-connectivity inside one image


def _as_stacks(masks: np.ndarray | Sequence[np.ndarray],
               anomaly_maps: np.ndarray | Sequence[np.ndarray]) -> tuple[list, list]:
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
        out_maps.append(amap.astype(np.float64, copy=False))
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
    masks, maps = _as_stacks(masks, anomaly_maps)
    name = category if category is not None else 'all'
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
    if num_thresholds is None:
        idx = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    else:
        thresholds = np.linspace(scores[-1], scores[0], int(num_thresholds))[::-1]
        # number of pixels with score >= t, on the descending array
        count = np.searchsorted(-scores, -thresholds, side='right')
        count = count[count > 0]
        idx = count - 1
    fpr = np.r_[0.0, fp_cum[idx]]
    pro = np.r_[0.0, pro_cum[idx]]
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


def aupro(masks: np.ndarray | Sequence[np.ndarray],
          anomaly_maps: np.ndarray | Sequence[np.ndarray],
          fpr_limit: float = 0.3, num_thresholds: int | None = None,
          category: str | None = None) -> float:
    """Normalised AUPRO in [0, 1] (exact MVTec AD variant, see the module docstring).

    Args:
        masks: (N, H, W) bool GT masks (or a list of (H_i, W_i) arrays).
        anomaly_maps: (N, H, W) float anomaly maps, same shapes.
        fpr_limit: upper FPR integration limit, in (0, 1].
        num_thresholds: None for the exact curve, else equally spaced thresholds.
        category: name used in error messages.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f'fpr_limit must be in (0, 1], got {fpr_limit}')
    fpr, pro = pro_curve(masks, anomaly_maps, num_thresholds, category)
    return area_under_limit(fpr, pro, fpr_limit) / fpr_limit
