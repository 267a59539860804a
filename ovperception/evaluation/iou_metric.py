"""Semantic segmentation metric with mmseg's ``IoUMetric`` definitions.

Per image, pixels whose ground truth equals ``ignore_index`` are dropped; on
the rest, with K = number of classes and counts over values in [0, K):

* ``area_intersect[k]`` = #pixels with pred == gt == k
* ``area_pred[k]`` = #pixels predicted k (predictions outside [0, K) count nowhere)
* ``area_label[k]`` = #pixels labelled k
* ``area_union`` = ``area_pred + area_label - area_intersect``

The four vectors are summed over the dataset, then
``IoU = intersect / union``, ``Acc = intersect / label``,
``aAcc = sum(intersect) / sum(label)``, ``Dice = 2 intersect / (pred + label)``,
``Precision = intersect / pred``, ``Recall = Acc``,
``Fscore = (1 + b^2) P R / (b^2 P + R)``. A class with a zero denominator gets
``nan`` and is left out of the mean (``mIoU`` = nanmean). Summary values are
percentages rounded to 2 decimals, as in mmseg.
"""
from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmengine.structures import BaseDataElement

from ovperception.registry import METRICS
from ovperception.structures import sample_field
from ovperception.utils.atomic import atomic_save_image, ensure_not_input

_ALLOWED = ('mIoU', 'mDice', 'mFscore')




def _seg_data(sample: Any, key: str) -> torch.Tensor | None:
    """The (H, W) tensor of a ``gt_sem_seg`` / ``pred_sem_seg`` field, if present."""
    field = sample_field(sample, key)
    if field is None:
        return None
    data = field.data if isinstance(field, BaseDataElement) else field['data']
    data = torch.as_tensor(data)
    return data.squeeze(0) if data.ndim == 3 else data


def intersect_and_union(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                        ignore_index: int = 255) -> tuple[torch.Tensor, ...]:
    """Per-class areas of one image (mmseg ``intersect_and_union``).

    Args:
        pred: (H, W) integer prediction.
        label: (H, W) integer ground truth, ``ignore_index`` marks ignored pixels.
        num_classes: K.
        ignore_index: ignored ground-truth value.

    Returns:
        ``(area_intersect, area_union, area_pred, area_label)``, each (K,) int64.

    Raises:
        ValueError: ``pred`` and ``label`` shapes differ.
    """
    if pred.shape != label.shape:
        raise ValueError(f'prediction shape {tuple(pred.shape)} differs from ground-truth '
                         f'shape {tuple(label.shape)}')
    label = label.to(pred.device).long()
    pred = pred.long()
    keep = label != ignore_index
    pred, label = pred[keep], label[keep]

    def count(values: torch.Tensor) -> torch.Tensor:
        values = values[(values >= 0) & (values < num_classes)]
        return torch.bincount(values, minlength=num_classes)

    area_intersect = count(pred[pred == label])
    area_pred = count(pred)
    area_label = count(label)
    area_union = area_pred + area_label - area_intersect
    return area_intersect.cpu(), area_union.cpu(), area_pred.cpu(), area_label.cpu()


def areas_to_metrics(intersect: np.ndarray, union: np.ndarray, pred: np.ndarray,
                     label: np.ndarray, metrics: Sequence[str] = ('mIoU',),
                     beta: float = 1.0, nan_to_num: float | None = None) -> dict[str, Any]:
    """Per-class metric vectors (fractions) from summed areas (mmseg ``total_area_to_metrics``).

    Returns:
        ``OrderedDict`` with ``aAcc`` (scalar) and per-class arrays among
        ``IoU``, ``Acc``, ``Dice``, ``Fscore``, ``Precision``, ``Recall``.
    """
    intersect, union, pred, label = (np.asarray(a, dtype=np.float64)
                                     for a in (intersect, union, pred, label))
    with np.errstate(divide='ignore', invalid='ignore'):
        out: dict[str, Any] = OrderedDict(aAcc=intersect.sum() / label.sum())
        for metric in metrics:
            if metric == 'mIoU':
                out['IoU'] = intersect / union
                out['Acc'] = intersect / label
            elif metric == 'mDice':
                out['Dice'] = 2 * intersect / (pred + label)
                out['Acc'] = intersect / label
            elif metric == 'mFscore':
                precision = intersect / pred
                recall = intersect / label
                out['Fscore'] = ((1 + beta**2) * precision * recall /
                                 (beta**2 * precision + recall))
                out['Precision'] = precision
                out['Recall'] = recall
            else:
                raise KeyError(f'metric {metric!r} is not supported; choose from {_ALLOWED}')
    if nan_to_num is not None:
        out = OrderedDict((k, np.nan_to_num(v, nan=nan_to_num)) for k, v in out.items())
    return out


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of row dicts (same keys in every row)."""
    if not rows:
        return ''
    headers = list(rows[0])
    cells = [[str(row[h]) for h in headers] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    rule = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'

    def line(values: Sequence[str]) -> str:
        return '| ' + ' | '.join(v.ljust(w) for v, w in zip(values, widths)) + ' |'

    return '\n'.join([rule, line(headers), rule, *(line(r) for r in cells), rule])


@METRICS.register_module()
class IoUMetric(BaseMetric):
    """mIoU / mAcc / aAcc (and optionally mDice, mFscore) for semantic segmentation.

    Reads ``pred_sem_seg.data`` and ``gt_sem_seg.data`` ((1, H, W) or (H, W))
    from each data sample (``OVDataSample`` or its ``to_dict()``), class names
    from ``dataset_meta['classes']``. After ``compute_metrics`` the per-class
    table (percentages) is kept in ``last_per_class`` (main process only).

    Args:
        ignore_index: ground-truth value excluded from evaluation.
        iou_metrics: any of ``'mIoU'``, ``'mDice'``, ``'mFscore'``.
        nan_to_num: replace nan per-class values by this number before averaging.
        beta: F-score beta.
        collect_device: ``'cpu'`` or ``'gpu'`` for cross-process collection.
        output_dir: write each prediction as ``{img basename}.png`` here.
        format_only: only write predictions (needs ``output_dir``), no metric.
        prefix: metric name prefix.
    """

    #: No 'prefix/' before the metric names: they are reported as the papers name them
    #: ('mIoU', not 'seg/mIoU'); stated as '' (not None, which mmengine warns about).
    default_prefix: str | None = ''

    def __init__(self, ignore_index: int = 255, iou_metrics: Sequence[str] = ('mIoU',),
                 nan_to_num: float | None = None, beta: float = 1.0,
                 collect_device: str = 'cpu', output_dir: str | None = None,
                 format_only: bool = False, prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(iou_metrics, str):
            iou_metrics = [iou_metrics]
        unknown = set(iou_metrics) - set(_ALLOWED)
        if unknown:
            raise KeyError(f'metrics {sorted(unknown)} are not supported; choose from {_ALLOWED}')
        if format_only and not output_dir:
            raise ValueError('IoUMetric(format_only=True) needs an output_dir')
        self.ignore_index = ignore_index
        self.metrics = list(iou_metrics)
        self.nan_to_num = nan_to_num
        self.beta = beta
        self.output_dir = output_dir
        self.format_only = format_only
        self.last_per_class: list[dict[str, Any]] = []
        self.last_iou: np.ndarray = np.zeros(0)  # per-class IoU fractions, unrounded

    def _class_names(self) -> list[str]:
        """Display names of the evaluated classes."""
        meta = self.dataset_meta or {}
        if meta.get('classes'):
            return [str(c) for c in meta['classes']]
        if meta.get('classnames'):
            return [str(c).split(';')[0].strip() for c in meta['classnames']]
        raise ValueError("IoUMetric needs dataset_meta['classes'] (set by the Runner from the "
                         "dataset, or assign metric.dataset_meta = dict(classes=[...]))")

    def _write_prediction(self, sample: Any, pred: torch.Tensor) -> None:
        """Save a prediction as PNG (labels + 1 when the dataset reduced label 0)."""
        img_path = sample_field(sample, 'img_path')
        stem = os.path.splitext(os.path.basename(str(img_path)))[0]
        out_path = os.path.abspath(os.path.join(str(self.output_dir), f'{stem}.png'))
        ensure_not_input(out_path, [img_path, sample_field(sample, 'seg_map_path')])
        mask = pred.cpu().numpy().astype(np.int64)
        if sample_field(sample, 'reduce_zero_label', False):
            mask = np.where(mask == self.ignore_index, mask, mask + 1)
        dtype = np.uint8 if mask.min() >= 0 and mask.max() <= 255 else np.uint16
        atomic_save_image(out_path, np.clip(mask, 0, 65535).astype(dtype))

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Accumulate the areas of a batch of predicted samples."""
        num_classes = len(self._class_names())
        for sample in data_samples:
            pred = _seg_data(sample, 'pred_sem_seg')
            if pred is None:
                raise KeyError('IoUMetric: a data sample has no pred_sem_seg')
            if self.output_dir:
                self._write_prediction(sample, pred)
            if self.format_only:
                continue
            label = _seg_data(sample, 'gt_sem_seg')
            if label is None:
                raise KeyError('IoUMetric: a data sample has no gt_sem_seg (use format_only=True '
                               'to only write predictions)')
            if pred.shape != label.shape:
                raise ValueError(
                    f'IoUMetric: prediction shape {tuple(pred.shape)} differs from ground-truth '
                    f'shape {tuple(label.shape)} for {sample_field(sample, "img_path")}; predictions '
                    f'must be resized to ori_shape')
            self.results.append(intersect_and_union(pred, label, num_classes, self.ignore_index))

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Sum the areas over the dataset and return percentages (2 decimals)."""
        logger = MMLogger.get_current_instance()
        if self.format_only:
            logger.info(f'predictions written to {self.output_dir}')
            return OrderedDict()
        if not results:
            raise ValueError('IoUMetric: no results to evaluate')
        totals = [torch.stack([r[i] for r in results]).sum(0).numpy() for i in range(4)]
        per_class = areas_to_metrics(*totals, metrics=self.metrics, beta=self.beta,
                                     nan_to_num=self.nan_to_num)
        summary: dict[str, float] = OrderedDict()
        for key, value in per_class.items():
            with warnings.catch_warnings():  # all-nan classes: nan without a warning
                warnings.simplefilter('ignore', RuntimeWarning)
                mean = float(np.round(np.nanmean(value) * 100, 2))
            summary[key if key == 'aAcc' else f'm{key}'] = mean
        per_class.pop('aAcc')
        self.last_iou = np.asarray(per_class.get('IoU', ()), dtype=float)
        names = self._class_names()
        self.last_per_class = [
            {'Class': name, **{k: float(np.round(v[i] * 100, 2)) for k, v in per_class.items()}}
            for i, name in enumerate(names)
        ]
        print_log('per class results:\n' + self._table(), logger=logger)
        return summary

    def _table(self) -> str:
        """The per-class table, with prettytable when it is installed."""
        try:
            from prettytable import PrettyTable
        except ImportError:
            return format_table(self.last_per_class)
        table = PrettyTable()
        for key in self.last_per_class[0]:
            table.add_column(key, [row[key] for row in self.last_per_class])
        return table.get_string()
