"""The detection task's score threshold and top-k, applied to a kept prediction (no model run)."""
from __future__ import annotations

import math

import torch

from ovperception.structures import OVDataSample


def check_detection_filter(score_threshold: float | str | None,
                           top_k: float | str | None) -> tuple[float, int]:
    """(score threshold in [0, 1], top-k >= 0 where 0 keeps all) from the page's values.

    Empty or None values mean "keep all" (threshold 0, top-k 0).

    Raises:
        ValueError: a value that is not a number, outside [0, 1], negative or fractional top-k.
    """
    def number(value: float | str | None, what: str) -> float:
        if value is None or (isinstance(value, str) and not value.strip()):
            return 0.0
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise ValueError(f'the {what} must be a number, got {value!r}') from None
        if not math.isfinite(result):
            raise ValueError(f'the {what} must be finite, got {value!r}')
        return result

    threshold = number(score_threshold, 'score threshold')
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f'the score threshold must lie in [0, 1], got {threshold:g}')
    k = number(top_k, 'top-k')
    if k < 0 or k != int(k):
        raise ValueError(f'top-k must be a whole number >= 0 (0: all), got {k:g}')
    return threshold, int(k)


def filter_detections(sample: OVDataSample, score_threshold: float, top_k: int
                      ) -> tuple[OVDataSample, int, int]:
    """A copy of ``sample`` whose ``pred_instances`` keeps the (at most ``top_k``, 0: all)
    highest-scoring instances with ``score >= score_threshold``, highest score first.

    Returns:
        (filtered sample, instances kept, instances before filtering).
    """
    instances = sample.pred_instances
    total = len(instances)
    scores = instances.scores.reshape(-1) if 'scores' in instances \
        else torch.ones(total)
    kept = torch.nonzero(scores >= score_threshold).reshape(-1)
    kept = kept[torch.argsort(scores[kept], descending=True, stable=True)]
    if top_k > 0:
        kept = kept[:top_k]
    filtered = sample.clone()
    filtered.pred_instances = instances[kept]
    return filtered, int(kept.numel()), total
