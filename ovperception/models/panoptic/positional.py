"""Sine positional encodings (DETR's normalised 2-D variant) as a pure function."""
from __future__ import annotations

import math

import torch
from torch import Tensor


def sine_position_encoding(height: int, width: int, dim: int, device: torch.device | None = None,
                           temperature: float = 10000.0) -> Tensor:
    """(dim, height, width) encoding: the first half of the channels encodes y, the second x.

    Exactly DETR's / Mask2Former's ``PositionEmbeddingSine(dim // 2, normalize=True)``:
    coordinates normalised to (0, 2*pi], frequencies ``temperature ** (2 * (i // 2) / (dim/2))``
    and sine / cosine interleaved (channel 2j is a sine, 2j + 1 the cosine of the same
    frequency) - the channel order trained weights depend on.
    """
    if dim % 4:
        raise ValueError(f'sine position encoding needs dim divisible by 4, got {dim}')
    half = dim // 2
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device) / (height + eps) * scale
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device) / (width + eps) * scale
    steps = torch.arange(half, dtype=torch.float32, device=device)
    freq = temperature ** (2 * torch.div(steps, 2, rounding_mode='floor') / half)

    def encode(coords: Tensor) -> Tensor:  # (n,) -> (half, n)
        angles = coords[:, None] / freq
        return torch.stack([angles[:, 0::2].sin(), angles[:, 1::2].cos()], dim=2).flatten(1).t()

    enc_y = encode(y)[:, :, None].expand(-1, -1, width)
    enc_x = encode(x)[:, None, :].expand(-1, height, -1)
    return torch.cat([enc_y, enc_x], dim=0)
