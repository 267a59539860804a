"""Scores of masks and boxes read off dense score maps (mean of the map inside each region)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pool_in_masks(masks: Tensor, maps: Tensor) -> Tensor:
    """Mean of every map inside every mask.

    Masks at another resolution than the maps are resized with area interpolation (each
    map cell weighted by the fraction of it the mask covers), so a full-resolution SAM mask
    can be read off a coarse CLIP map without materialising the map at full size.

    Args:
        masks: (M, H, W) bool or float masks.
        maps: (N, h, w) score maps (e.g. class probabilities).

    Returns:
        (M, N) mean scores; an empty mask scores 0.
    """
    weights = masks.float()
    if weights.shape[-2:] != maps.shape[-2:]:
        weights = F.interpolate(weights[None], size=maps.shape[-2:], mode='area')[0]
    totals = weights.flatten(1).sum(1, keepdim=True)
    sums = weights.flatten(1) @ maps.flatten(1).to(weights.dtype).T
    return torch.where(totals > 0, sums / totals.clamp_min(1e-12), torch.zeros_like(sums))


def boxes_to_masks(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """(E, 4) xyxy pixel boxes -> (E, H, W) bool masks of the pixels whose centre is inside."""
    height, width = size
    ys = torch.arange(height, device=boxes.device, dtype=torch.float32)[None, :, None] + 0.5
    xs = torch.arange(width, device=boxes.device, dtype=torch.float32)[None, None, :] + 0.5
    x1, y1, x2, y2 = (boxes.float()[:, i, None, None] for i in range(4))
    return (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
