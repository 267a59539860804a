"""``AnomalyMetric``: image / pixel anomaly detection metrics per category.

Per category (``metainfo['category']``, default ``'all'``) and then averaged
over categories (nan-mean; a category whose metric is undefined gives nan and
a logged warning), as in AnomalyCLIP / APRIL-GAN / AdaCLIP:

* ``image_AUROC``, ``image_AP``, ``image_F1max``: from ``pred_score`` (or the
  max of ``pred_anomaly_map`` when absent) vs. the image label ``gt_score``
  (or ``gt_anomaly_map.any()`` when absent);
* ``pixel_AUROC``, ``pixel_AP``, ``pixel_F1max``: over all pixels of the category;
* ``AUPRO``: ``aupro_variant='mvtec'`` (exact MVTec AD integral) or ``'thresholded'``
  (AnomalyCLIP's / Accurate-WinCLIP's 200-step ``cal_pro_score``), 8-connected regions, FPR
  limit ``aupro_fpr_limit`` (see :mod:`.aupro`). Each config uses the variant of the code
  whose numbers it records.

Memory: a category with at most ``pixel_exact_limit`` pixels is evaluated exactly (all
pixels concatenated and sorted, as sklearn); a larger one image by image at
``pixel_num_bins`` equally spaced thresholds (:mod:`.threshold_counts`; ties inside a bin
count as ties), so the metrics need O(one image + bins) memory besides the stored maps.
The thresholded AUPRO is always computed image by image and is exact.

GT maps are binarised with ``> 0.5``. Values are percentages with 2 decimals.
"""
from __future__ import annotations

import logging
import warnings
from collections import OrderedDict, defaultdict
from typing import Any, Callable, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.structures import BaseDataElement

from ovperception.evaluation.iou_metric import format_table
from ovperception.structures import sample_field
from ovperception.registry import METRICS

from .aupro import AUPRO_VARIANTS, aupro
from .curves import (average_precision, average_precision_from_counts, f1_max,
                     f1_max_from_counts, roc_auc, roc_auc_from_counts)
from .threshold_counts import count_at_thresholds, value_range
from ovperception.utils.smoothing import smooth_anomaly_map

IMAGE_METRICS = ('image_AUROC', 'image_AP', 'image_F1max')
PIXEL_METRICS = ('pixel_AUROC', 'pixel_AP', 'pixel_F1max', 'AUPRO')
ALLOWED = IMAGE_METRICS + PIXEL_METRICS
DEFAULT_METRICS = ('image_AUROC', 'image_AP', 'image_F1max', 'pixel_AUROC', 'pixel_F1max',
                   'AUPRO')
_CURVES: dict[str, Callable[..., float]] = {
    'AUROC': roc_auc, 'AP': average_precision, 'F1max': f1_max}
_COUNT_CURVES: dict[str, Callable[..., float]] = {
    'AUROC': roc_auc_from_counts, 'AP': average_precision_from_counts,
    'F1max': f1_max_from_counts}


def _to_numpy(value: Any) -> np.ndarray | None:
    """``PixelData`` / dict / tensor / array -> numpy array (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, BaseDataElement):
        value = value.data
    elif isinstance(value, dict):
        value = value['data']
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().float().numpy()
    return np.asarray(value)


def _map2d(value: Any) -> np.ndarray | None:
    """A (1, H, W) or (H, W) map as (H, W)."""
    arr = _to_numpy(value)
    if arr is None:
        return None
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f'AnomalyMetric: anomaly maps must be (1, H, W) or (H, W), '
                         f'got shape {arr.shape}')
    return arr


@METRICS.register_module()
class AnomalyMetric(BaseMetric):
    """Image- and pixel-level anomaly detection metrics, per category and mean.

    Reads from each data sample (``OVDataSample`` or dict): ``pred_score``
    (scalar), ``gt_score`` (scalar label), ``pred_anomaly_map`` / ``gt_anomaly_map``
    (``PixelData`` (1, H, W)) and ``metainfo['category']``. Pixel metrics are
    skipped for categories without maps. Per-category rows (percentages) are
    kept in ``last_per_category`` after ``compute_metrics``.

    Args:
        metrics: subset of ``ALLOWED``.
        gaussian_sigma: if > 0, smooth each anomaly map with
            ``scipy.ndimage.gaussian_filter(sigma)`` (AnomalyCLIP uses 4).
        aupro_fpr_limit: AUPRO FPR integration limit.
        aupro_num_thresholds: ``'mvtec'`` AUPRO: None = exact curve (binned at
            ``pixel_num_bins`` above ``pixel_exact_limit``), else binned thresholds.
        aupro_variant: ``'mvtec'`` or ``'thresholded'`` (see :mod:`.aupro`).
        aupro_max_step: threshold steps of the ``'thresholded'`` variant (200).
        pixel_exact_limit: pixels per category up to which pixel metrics are exact
            (None: always exact, unbounded memory).
        pixel_num_bins: thresholds of the binned pixel metrics.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: metric name prefix.
    """

    #: No 'prefix/' before the metric names: they are reported as the papers name them
    #: ('mIoU', not 'seg/mIoU'); stated as '' (not None, which mmengine warns about).
    default_prefix: str | None = ''

    def __init__(self, metrics: Sequence[str] = DEFAULT_METRICS, gaussian_sigma: float = 0.0,
                 aupro_fpr_limit: float = 0.3, aupro_num_thresholds: int | None = None,
                 aupro_variant: str = 'mvtec', aupro_max_step: int = 200,
                 pixel_exact_limit: int | None = 2 ** 25, pixel_num_bins: int = 2 ** 16,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = set(metrics) - set(ALLOWED)
        if unknown or not metrics:
            raise KeyError(f'metrics {sorted(unknown)} are not supported; choose from {ALLOWED}')
        if gaussian_sigma < 0:
            raise ValueError(f'gaussian_sigma must be >= 0, got {gaussian_sigma}')
        if not 0.0 < aupro_fpr_limit <= 1.0:
            raise ValueError(f'aupro_fpr_limit must be in (0, 1], got {aupro_fpr_limit}')
        if aupro_variant not in AUPRO_VARIANTS:
            raise ValueError(f'aupro_variant must be one of {AUPRO_VARIANTS}, got '
                             f'{aupro_variant!r}')
        if pixel_num_bins < 2 or aupro_max_step < 2:
            raise ValueError('pixel_num_bins and aupro_max_step must be >= 2')
        self.metrics = metrics
        self.aupro_variant = aupro_variant
        self.aupro_max_step = int(aupro_max_step)
        self.pixel_exact_limit = pixel_exact_limit
        self.pixel_num_bins = int(pixel_num_bins)
        self.gaussian_sigma = float(gaussian_sigma)
        self.aupro_fpr_limit = float(aupro_fpr_limit)
        self.aupro_num_thresholds = aupro_num_thresholds
        self.last_per_category: list[dict[str, Any]] = []

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store per sample: category, image label/score and (H, W) maps."""
        for sample in data_samples:
            pred_map = _map2d(sample_field(sample, 'pred_anomaly_map'))
            gt_map = _map2d(sample_field(sample, 'gt_anomaly_map'))
            if pred_map is not None and gt_map is not None and pred_map.shape != gt_map.shape:
                raise ValueError(
                    f'AnomalyMetric: GT mask shape {gt_map.shape} differs from anomaly map shape '
                    f'{pred_map.shape} for {sample_field(sample, "img_path")}; resize the prediction '
                    f'to the mask size')
            if pred_map is not None:
                pred_map = pred_map.astype(np.float32)
                if self.gaussian_sigma > 0:
                    pred_map = smooth_anomaly_map(pred_map, self.gaussian_sigma)
            gt_mask = None if gt_map is None else gt_map > 0.5
            score = _to_numpy(sample_field(sample, 'pred_score'))
            if score is None and pred_map is not None:
                score = np.asarray(pred_map.max())
            label = _to_numpy(sample_field(sample, 'gt_score'))
            if label is None and gt_mask is not None:
                label = np.asarray(gt_mask.any())
            self.results.append(dict(
                category=str(sample_field(sample, 'category', 'all') or 'all'),
                pred_score=None if score is None else float(score.reshape(-1)[0]),
                gt_label=None if label is None else bool(label.reshape(-1)[0] > 0.5),
                pred_map=pred_map, gt_mask=gt_mask))

    def _category_metrics(self, category: str, items: list[dict]) -> dict[str, float]:
        """Fractions in [0, 1] (nan when undefined or the inputs are missing)."""
        logger = MMLogger.get_current_instance()
        out: dict[str, float] = OrderedDict()
        scores = [r['pred_score'] for r in items]
        labels = [r['gt_label'] for r in items]
        has_image = all(s is not None for s in scores) and all(lb is not None for lb in labels)
        has_pixel = all(r['pred_map'] is not None and r['gt_mask'] is not None for r in items)
        pixel_curves = None
        if has_pixel and any(m.startswith('pixel') for m in self.metrics):
            pixel_curves = self._pixel_curves(items)
        for name in self.metrics:
            level, _, kind = name.partition('_')
            if (level == 'image' and not has_image) or (level != 'image' and not has_pixel):
                out[name] = float('nan')
                continue
            try:
                if name == 'AUPRO':
                    value = aupro([r['gt_mask'] for r in items], [r['pred_map'] for r in items],
                                  self.aupro_fpr_limit, self._aupro_thresholds(items),
                                  category, self.aupro_variant, self.aupro_max_step)
                elif level == 'image':
                    value = _CURVES[kind](np.array(labels), np.array(scores), 'image', category)
                else:
                    value = pixel_curves(kind, category)
            except ValueError as err:
                print_log(f'AnomalyMetric: {name} set to nan: {err}', logger=logger,
                          level=logging.WARNING)
                value = float('nan')
            out[name] = value
        return out

    def _is_exact(self, items: list[dict]) -> bool:
        pixels = sum(r['gt_mask'].size for r in items)
        return self.pixel_exact_limit is None or pixels <= self.pixel_exact_limit

    def _aupro_thresholds(self, items: list[dict]) -> int | None:
        """Thresholds of the 'mvtec' AUPRO: as configured, binned for large categories."""
        if self.aupro_num_thresholds is not None or self._is_exact(items):
            return self.aupro_num_thresholds
        return self.pixel_num_bins

    def _pixel_curves(self, items: list[dict]) -> Callable[[str, str], float]:
        """``(kind, category) -> value`` of the pixel AUROC / AP / F1max of ``items``."""
        masks = [r['gt_mask'] for r in items]
        maps = [r['pred_map'] for r in items]
        if self._is_exact(items):
            flat_masks = np.concatenate([m.ravel() for m in masks])
            flat_maps = np.concatenate([m.ravel() for m in maps])
            return lambda kind, category: _CURVES[kind](flat_masks, flat_maps, 'pixel',
                                                        category)
        low, high = value_range(maps)
        thresholds = np.linspace(float(low), float(high), self.pixel_num_bins)
        counts = count_at_thresholds(masks, maps, thresholds, with_regions=False)
        fps, tps = counts.negatives[::-1], counts.positives[::-1]
        return lambda kind, category: _COUNT_CURVES[kind](fps, tps, 'pixel', category)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Per-category metrics, logged as a table; returns the category means (%)."""
        if not results:
            raise ValueError('AnomalyMetric: no results to evaluate')
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in results:
            groups[r['category']].append(r)
        rows = []
        for category in sorted(groups):
            values = self._category_metrics(category, groups[category])
            rows.append({'Category': category,
                         **{k: float(np.round(v * 100, 2)) for k, v in values.items()}})
        summary: dict[str, float] = OrderedDict()
        for name in self.metrics:
            with warnings.catch_warnings():  # all-nan column: nan without a warning
                warnings.simplefilter('ignore', RuntimeWarning)
                mean = np.nanmean([row[name] for row in rows])
            summary[name] = float(np.round(mean, 2))
        self.last_per_category = rows
        table_rows = rows + [{'Category': 'mean', **summary}] if len(rows) > 1 else rows
        print_log('anomaly metrics per category (%):\n' + format_table(table_rows),
                  logger=MMLogger.get_current_instance())
        return summary
