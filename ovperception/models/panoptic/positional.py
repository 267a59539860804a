"""Sine positional encodings (DETR's normalised 2-D variant) as a pure function."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def sine_position_encoding(height: int, width: int, dim: int, device: torch.device | None = None,
                           temperature: float = 10000.0) -> Tensor:
    """(dim, height, width) encoding: half the channels for y, half for x (sin, cos).

    Coordinates are normalised to (0, 2*pi] as in DETR / Mask2Former.
    """
    if dim % 4:
        raise ValueError(f'sine position encoding needs dim divisible by 4, got {dim}')
    quarter = dim // 4
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + eps) * scale
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + eps) * scale
    freq = temperature ** (torch.arange(quarter, dtype=torch.float32, device=device) / quarter)
    pos_y = y[:, None] / freq  # (h, dim/4)
    pos_x = x[:, None] / freq
    enc_y = torch.cat([pos_y.sin(), pos_y.cos()], dim=1).t()[:, :, None].expand(-1, -1, width)
    enc_x = torch.cat([pos_x.sin(), pos_x.cos()], dim=1).t()[:, None, :].expand(-1, height, -1)
    return torch.cat([enc_y, enc_x], dim=0)
