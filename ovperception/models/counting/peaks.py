"""Local maxima of a score map (class-agnostic point proposals), vectorised max-pool NMS."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def find_peaks(heat: Tensor, kernel: int = 3, threshold: float = 0.1,
               max_peaks: int | None = None, inclusive: bool = False) -> tuple[Tensor, Tensor]:
    """Points that are the maximum of their ``kernel`` x ``kernel`` neighbourhood.

    A location is a peak when its value equals the maximum over the window centred on it
    (the window clipped to the map) and exceeds ``threshold`` (or reaches it, with
    ``inclusive``: PseCo keeps peaks with ``score >= 0.05``); equal neighbours on a
    plateau are all peaks (box NMS later removes duplicates). Peaks are ordered by score
    (descending), ties by row-major index.

    Args:
        heat: (H, W) score map.
        kernel: odd window side.
        threshold: minimum score (strictly greater unless ``inclusive``).
        max_peaks: keep at most this many (the best); None keeps all.
        inclusive: keep peaks equal to ``threshold`` too.

    Returns:
        ``(points (P, 2) float xy of the cell indices, scores (P,))``.
    """
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f'kernel must be a positive odd number, got {kernel}')
    if heat.dim() != 2:
        raise ValueError(f'heat must be (H, W), got {tuple(heat.shape)}')
    pooled = F.max_pool2d(heat[None, None], kernel, stride=1, padding=kernel // 2)[0, 0]
    above = heat >= threshold if inclusive else heat > threshold
    is_peak = (heat == pooled) & above
    flat = torch.nonzero(is_peak.flatten()).flatten()
    scores = heat.flatten()[flat]
    order = torch.sort(-scores, stable=True).indices
    if max_peaks is not None:
        order = order[:max_peaks]
    flat, scores = flat[order], scores[order]
    width = heat.shape[1]
    points = torch.stack([flat % width, torch.div(flat, width, rounding_mode='floor')], 1)
    return points.to(heat.dtype), scores
