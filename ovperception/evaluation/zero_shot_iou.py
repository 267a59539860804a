"""Zero-shot segmentation metric: mIoU of the seen and of the unseen classes and their
harmonic mean (hIoU), as ZS3Net / ZegCLIP / Chimera-Seg report them."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ovperception.evaluation.iou_metric import IoUMetric
from ovperception.registry import METRICS


def harmonic_iou(seen: float, unseen: float) -> float:
    """``2 * seen * unseen / (seen + unseen)`` (0 when both are 0)."""
    return 0.0 if seen + unseen == 0 else 2.0 * seen * unseen / (seen + unseen)


@METRICS.register_module()
class ZeroShotIoUMetric(IoUMetric):
    """:class:`IoUMetric` plus ``mIoU_seen``, ``mIoU_unseen`` and ``hIoU`` (percentages).

    Args:
        unseen_classes: indices of the unseen classes in the evaluated vocabulary.
        **kwargs: ``IoUMetric`` options.
    """

    def __init__(self, unseen_classes: Sequence[int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.unseen_classes = tuple(sorted({int(k) for k in unseen_classes}))
        if not self.unseen_classes:
            raise ValueError('ZeroShotIoUMetric needs at least one unseen class')
        if 'mIoU' not in self.metrics:
            raise ValueError("ZeroShotIoUMetric needs 'mIoU' among iou_metrics")

    def compute_metrics(self, results: list) -> dict[str, float]:
        summary = super().compute_metrics(results)
        if self.format_only:
            return summary
        ious = self.last_iou * 100.0
        if max(self.unseen_classes) >= len(ious):
            raise ValueError(f'unseen class {max(self.unseen_classes)} is out of the '
                             f'{len(ious)} evaluated classes')
        unseen = np.zeros(len(ious), dtype=bool)
        unseen[list(self.unseen_classes)] = True
        mean_seen = float(np.nanmean(ious[~unseen])) if (~unseen).any() else 0.0
        mean_unseen = float(np.nanmean(ious[unseen]))
        summary['mIoU_seen'] = round(mean_seen, 2)
        summary['mIoU_unseen'] = round(mean_unseen, 2)
        summary['hIoU'] = round(harmonic_iou(mean_seen, mean_unseen), 2)
        return summary
