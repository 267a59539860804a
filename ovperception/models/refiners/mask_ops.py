"""Pure-torch helpers on binary masks and SAM mask logits (no ``segment_anything`` import).

Used by :class:`~ovperception.models.refiners.sam.SAMWrapper` (automatic masks) and the
SAM refiner (prompts from coarse masks).
"""
from __future__ import annotations

import cv2
import numpy as np
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


def masks_to_boxes(masks: Tensor, exclusive_end: bool = False) -> Tensor:
    """Tight boxes of binary masks, ``(x1, y1, x2, y2)``.

    Args:
        masks: (N, H, W) bool.
        exclusive_end: ``x2, y2`` one past the last pixel (COCO / mmdet boxes) instead of
            the last pixel itself (SAM's rule).

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
    if exclusive_end:
        boxes[:, 2:] += 1
    return torch.where(rows.any(dim=1, keepdim=True), boxes, torch.zeros_like(boxes))


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-connected components of a binary mask.

    Args:
        mask: (H, W) bool.

    Returns:
        (H, W) int32 component ids (0 = outside the mask, 1..n components), the (n,) areas in
        pixels and the (n, 4) tight boxes ``(x1, y1, x2, y2)`` (inclusive ends), in id order.
    """
    count, ids, stats, _ = cv2.connectedComponentsWithStats(
        mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8), connectivity=8,
        ltype=cv2.CV_32S)
    stats = stats[1:count].astype(np.int64)
    x1, y1 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    boxes = np.stack([x1, y1, x1 + stats[:, cv2.CC_STAT_WIDTH] - 1,
                      y1 + stats[:, cv2.CC_STAT_HEIGHT] - 1], axis=1)
    return ids, stats[:, cv2.CC_STAT_AREA], boxes


def interior_points(mask: np.ndarray, num_points: int = 1) -> np.ndarray:
    """Points deep inside a mask: maxima of its distance transform, spread apart.

    The first point is the pixel farthest from the mask's boundary (the image border counts
    as boundary; among equally deep pixels, the one nearest their centroid). Each further
    point is the deepest pixel outside the discs of radius ``distance`` around the points
    already chosen; fewer points come back when the mask is used up.

    Args:
        mask: (H, W) bool with at least one pixel.
        num_points: how many points at most.

    Returns:
        (P, 2) float32 ``(x, y)`` pixel coordinates, 1 <= P <= num_points.
    """
    if num_points < 1:
        raise ValueError(f'num_points must be >= 1, got {num_points}')
    padded = np.pad(mask.astype(np.uint8), 1)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    if distance.max() <= 0:
        raise ValueError('interior_points needs a non-empty mask')
    ys, xs = np.mgrid[:mask.shape[0], :mask.shape[1]]
    available = distance.copy()
    points = []
    for _ in range(num_points):
        depth = float(available.max())
        if depth <= 0:
            break
        # Ties (the ridge of an elongated shape): the tied pixel nearest their centroid.
        tied_y, tied_x = np.nonzero(available >= depth - 1e-4)
        nearest = np.argmin((tied_y - tied_y.mean()) ** 2 + (tied_x - tied_x.mean()) ** 2)
        y, x = int(tied_y[nearest]), int(tied_x[nearest])
        points.append((x, y))
        available[(ys - y) ** 2 + (xs - x) ** 2 <= max(distance[y, x], 1.0) ** 2] = 0
    return np.asarray(points, dtype=np.float32)
