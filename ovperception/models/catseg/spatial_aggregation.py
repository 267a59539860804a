"""CAT-Seg's spatial aggregation: two Swin blocks (plain and shifted windows) per class
slice of the cost volume, whose queries and keys also see the appearance guidance.

Parameter names follow the released model (``block_1`` / ``block_2``, ``attn.q/k/v/proj``,
``mlp.fc1/fc2``, ``guidance_norm``) so that released weights map key for key.
"""
from __future__ import annotations

import torch
from timm.layers import Mlp
from torch import Tensor, nn


def window_partition(x: Tensor, window: int) -> Tensor:
    """(B, H, W, C) -> (B * H/w * W/w, w * w, C) non-overlapping windows, row-major."""
    batch, height, width, channels = x.shape
    x = x.view(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def window_merge(windows: Tensor, window: int, height: int, width: int) -> Tensor:
    """Inverse of :func:`window_partition`: (B * nW, w * w, C) -> (B, H, W, C)."""
    channels = windows.shape[-1]
    batch = windows.shape[0] // ((height // window) * (width // window))
    x = windows.view(batch, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(batch, height, width, channels)


def shifted_window_mask(height: int, width: int, window: int, shift: int) -> Tensor:
    """(nW, w*w, w*w) additive mask (0 / -100) keeping attention inside the regions that a
    cyclic shift by ``shift`` brings into one window (Swin's SW-MSA)."""
    regions = torch.zeros(1, height, width, 1)
    spans = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for rows in spans:
        for cols in spans:
            regions[:, rows, cols, :] = label
            label += 1
    ids = window_partition(regions, window).squeeze(-1)
    diff = ids[:, None, :] - ids[:, :, None]
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class GuidedWindowAttention(nn.Module):
    """Window self-attention whose queries / keys read [features, guidance] and whose
    values read the features only.

    Args:
        dim: feature channels C. guidance_dim: appearance-guidance channels G.
        num_heads: attention heads.
    """

    def __init__(self, dim: int, guidance_dim: int, num_heads: int) -> None:
        super().__init__()
        self.dim, self.num_heads = dim, num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim + guidance_dim, dim)
        self.k = nn.Linear(dim + guidance_dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        """(B*nW, N, C + G) windows, optional (nW, N, N) mask -> (B*nW, N, C)."""
        windows, tokens, _ = x.shape

        def heads(t: Tensor) -> Tensor:
            return t.reshape(windows, tokens, self.num_heads, -1).transpose(1, 2)

        q, k, v = heads(self.q(x)) * self.scale, heads(self.k(x)), heads(self.v(x[..., :self.dim]))
        attn = q @ k.transpose(-2, -1)
        if mask is not None:
            num_windows = mask.shape[0]
            attn = attn.view(windows // num_windows, num_windows, self.num_heads, tokens, tokens)
            attn = (attn + mask[None, :, None]).view(windows, self.num_heads, tokens, tokens)
        out = (attn.softmax(-1) @ v).transpose(1, 2).reshape(windows, tokens, -1)
        return self.proj(out)


class GuidedSwinBlock(nn.Module):
    """Pre-norm Swin block (window attention + GELU MLP, ratio 4) over an (H, W) grid.

    Args:
        dim, guidance_dim, num_heads: as :class:`GuidedWindowAttention`.
        resolution: (H, W) of the grid. window: window side. shift: cyclic shift (0 = none);
            a grid no larger than the window is one unshifted window, as released.
    """

    def __init__(self, dim: int, guidance_dim: int, resolution: tuple[int, int],
                 num_heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.resolution = tuple(resolution)
        if min(self.resolution) <= window:
            window, shift = min(self.resolution), 0
        self.window, self.shift = window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = GuidedWindowAttention(dim, guidance_dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=dim * 4, act_layer=nn.GELU)
        mask = shifted_window_mask(*self.resolution, window, shift) if shift > 0 else None
        self.register_buffer('attn_mask', mask, persistent=False)

    def forward(self, x: Tensor, guidance: Tensor | None) -> Tensor:
        """(B, H*W, C) tokens, (B, H*W, G) guidance or None -> (B, H*W, C)."""
        height, width = self.resolution
        batch, length, channels = x.shape
        if length != height * width:
            raise ValueError(f'spatial aggregation expects a {height}x{width} grid, got '
                             f'{length} tokens')
        y = self.norm1(x).view(batch, height, width, channels)
        if guidance is not None:
            y = torch.cat([y, guidance.view(batch, height, width, -1)], dim=-1)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(1, 2))
        y = self.attn(window_partition(y, self.window), self.attn_mask)
        y = window_merge(y, self.window, height, width)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + y.reshape(batch, length, channels)
        return x + self.mlp(self.norm2(x))


class SpatialAggregation(nn.Module):
    """Both Swin blocks applied to every class slice of a (B, C, T, H, W) cost embedding,
    with the (B, G, H, W) appearance guidance (layer-normed) shared by all classes."""

    def __init__(self, dim: int, guidance_dim: int, resolution: tuple[int, int],
                 num_heads: int, window: int) -> None:
        super().__init__()
        self.block_1 = GuidedSwinBlock(dim, guidance_dim, resolution, num_heads, window, 0)
        self.block_2 = GuidedSwinBlock(dim, guidance_dim, resolution, num_heads, window,
                                       window // 2)
        self.guidance_norm = nn.LayerNorm(guidance_dim) if guidance_dim > 0 else None

    def forward(self, x: Tensor, guidance: Tensor | None) -> Tensor:
        """(B, C, T, H, W), (B, G, H, W) or None -> (B, C, T, H, W)."""
        batch, channels, classes, height, width = x.shape
        tokens = x.permute(0, 2, 3, 4, 1).reshape(batch * classes, height * width, channels)
        if guidance is not None:
            guidance = guidance.flatten(2).transpose(1, 2)
            guidance = self.guidance_norm(guidance.repeat_interleave(classes, dim=0))
        tokens = self.block_2(self.block_1(tokens, guidance), guidance)
        return tokens.view(batch, classes, height, width, channels).permute(0, 4, 1, 2, 3)
