"""MuSc's local neighbourhood aggregation (LNAMD) of ViT patch tokens.

Per image and layer (xrli-U/MuSc ``models/modules/_LNAMD.py``): the (C, h, w) token map is
layer-normalised over all of C, h and w at once (no affine), then every patch becomes the
mean of its r x r neighbourhood per channel (zero padding counted in the mean, as the
release's unfold + adaptive average pooling), then L2-normalised.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def normalise_token_map(tokens: Tensor) -> Tensor:
    """(B, C, h, w) -> the same, layer-normalised per image over (C, h, w), eps 1e-5."""
    return F.layer_norm(tokens.float(), tokens.shape[1:])


def aggregate_neighbourhood(normalised: Tensor, r: int) -> Tensor:
    """(B, C, h, w) normalised maps -> (B, h*w, C) L2-normalised r x r neighbourhood means.

    Args:
        normalised: output of :func:`normalise_token_map`.
        r: aggregation degree (odd; 1 keeps each patch).
    """
    if r < 1 or r % 2 == 0:
        raise ValueError(f'MuSc aggregation degrees must be odd and >= 1, got {r}')
    if r > 1:
        normalised = F.avg_pool2d(normalised, r, stride=1, padding=(r - 1) // 2,
                                  count_include_pad=True)
    return F.normalize(normalised.flatten(2).transpose(1, 2), dim=-1)
