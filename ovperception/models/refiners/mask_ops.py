"""Pure-torch helpers on binary masks and SAM mask logits (no ``segment_anything`` import).

Used by :class:`~ovperception.models.refiners.sam.SAMWrapper` (automatic masks) and the
SAM refiner (prompts from coarse masks).
"""
from __future__ import annotations

import torch
from torch import Tensor


def point_grid(points_per_side: int) -> Tensor:
    """Regular grid of points in normalised [0, 1] image coordinates.

    Cell centres of an ``n x n`` partition of the unit square: coordinate ``(2 i + 1) / (2 n)``,
    ``x`` varying fastest.

    Args:
        points_per_side: ``n >= 1``.

    Returns:
        (n * n, 2) float tensor of ``(x, y)``.
    """
    if points_per_side < 1:
        raise ValueError(f'points_per_side must be >= 1, got {points_per_side}')
    centres = (torch.arange(points_per_side, dtype=torch.float64) + 0.5) / points_per_side
    ys, xs = torch.meshgrid(centres, centres, indexing='ij')
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1).float()


def stability_score(logits: Tensor, threshold: float = 0.0, offset: float = 1.0) -> Tensor:
    """SAM's stability score: IoU of the masks thresholded at ``threshold +- offset``.

    Because ``{l > t + o}`` is contained in ``{l > t - o}``, the IoU is the ratio of their
    areas. An empty lower-threshold mask scores 0.

    Args:
        logits: (..., H, W) mask logits.
        threshold: the mask threshold (SAM: 0).
        offset: the threshold offset (SAM: 1).

    Returns:
        (...) float scores in [0, 1].
    """
    inner = (logits > threshold + offset).flatten(-2).sum(-1, dtype=torch.int64)
    outer = (logits > threshold - offset).flatten(-2).sum(-1, dtype=torch.int64)
    return torch.where(outer > 0, inner.double() / outer.clamp(min=1).double(),
                       torch.zeros_like(inner, dtype=torch.float64)).float()


def masks_to_boxes(masks: Tensor) -> Tensor:
    """Tight boxes of binary masks, ``(x1, y1, x2, y2)`` with inclusive ends (SAM's rule).

    Args:
        masks: (N, H, W) bool.

    Returns:
        (N, 4) float boxes; an empty mask gives ``(0, 0, 0, 0)``.
    """
    if masks.dim() != 3:
        raise ValueError(f'masks must be (N, H, W), got {tuple(masks.shape)}')
    num, height, width = masks.shape
    if num == 0:
        return masks.new_zeros((0, 4), dtype=torch.float32)
    rows, cols = masks.any(dim=2), masks.any(dim=1)  # (N, H), (N, W)
    y_index = torch.arange(height, device=masks.device)
    x_index = torch.arange(width, device=masks.device)
    y1 = torch.where(rows, y_index, height).min(dim=1).values
    y2 = torch.where(rows, y_index, -1).max(dim=1).values
    x1 = torch.where(cols, x_index, width).min(dim=1).values
    x2 = torch.where(cols, x_index, -1).max(dim=1).values
    boxes = torch.stack([x1, y1, x2, y2], dim=1).float()
    return torch.where(rows.any(dim=1, keepdim=True), boxes, torch.zeros_like(boxes))
