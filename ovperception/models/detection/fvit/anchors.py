"""Anchors and the delta box coding of two-stage detectors (Faster R-CNN, as in mmdet 2.x).

Anchors of one level: ``base_size = stride``, centred on ``(x * stride, y * stride)`` (no
half-cell offset), for every ratio (outer) and scale (inner): ``w = stride * scale /
sqrt(ratio)``, ``h = stride * scale * sqrt(ratio)``; locations in row-major order, the anchors
of a location together — the layout of the RPN's (A, H, W) output channels.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

WH_RATIO_CLIP = 16 / 1000


def level_anchors(stride: float, scales: Sequence[float], ratios: Sequence[float],
                  size: tuple[int, int], device: torch.device | None = None) -> Tensor:
    """(h * w * A, 4) xyxy anchors of one level of ``size = (h, w)`` cells."""
    ratios_t = torch.tensor(list(ratios), dtype=torch.float32, device=device)
    scales_t = torch.tensor(list(scales), dtype=torch.float32, device=device)
    h_ratios = ratios_t.sqrt()
    widths = (stride / h_ratios[:, None] * scales_t[None, :]).reshape(-1)
    heights = (stride * h_ratios[:, None] * scales_t[None, :]).reshape(-1)
    base = torch.stack([-0.5 * widths, -0.5 * heights, 0.5 * widths, 0.5 * heights], dim=-1)
    shift_x = torch.arange(size[1], device=device, dtype=torch.float32) * stride
    shift_y = torch.arange(size[0], device=device, dtype=torch.float32) * stride
    yy, xx = torch.meshgrid(shift_y, shift_x, indexing='ij')
    shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


def encode_deltas(boxes: Tensor, targets: Tensor, stds: Sequence[float]) -> Tensor:
    """(N, 4) reference and target xyxy boxes -> (N, 4) deltas (dx, dy, dw, dh) / stds."""
    pwh = boxes[:, 2:] - boxes[:, :2]
    pxy = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    gwh = targets[:, 2:] - targets[:, :2]
    gxy = (targets[:, :2] + targets[:, 2:]) * 0.5
    deltas = torch.cat([(gxy - pxy) / pwh, (gwh / pwh).log()], dim=-1)
    return deltas / deltas.new_tensor(list(stds))


def decode_deltas(boxes: Tensor, deltas: Tensor, stds: Sequence[float],
                  max_shape: tuple[int, int] | None = None) -> Tensor:
    """Apply (N, 4) deltas (scaled by ``stds``) to (N, 4) xyxy boxes.

    Width / height changes are clipped to ``|log(16 / 1000)|``; with ``max_shape = (H, W)``
    the boxes are clipped to the image.
    """
    deltas = deltas * deltas.new_tensor(list(stds))
    pxy = (boxes[:, :2] + boxes[:, 2:]) * 0.5
    pwh = boxes[:, 2:] - boxes[:, :2]
    limit = abs(math.log(WH_RATIO_CLIP))
    gxy = pxy + pwh * deltas[:, :2]
    gwh = pwh * deltas[:, 2:].clamp(min=-limit, max=limit).exp()
    out = torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)
    if max_shape is not None:
        out[:, 0::2] = out[:, 0::2].clamp(min=0, max=max_shape[1])
        out[:, 1::2] = out[:, 1::2].clamp(min=0, max=max_shape[0])
    return out
