"""CAT-Seg's class aggregation: attention across the classes of the cost volume at every
(pooled) location, linear attention (Katharopoulos et al., elu + 1 feature map) with the
projected text embeddings as guidance, padded to a fixed number of classes with learned
tokens, as released."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def linear_attention(queries: Tensor, keys: Tensor, values: Tensor,
                     eps: float = 1e-6) -> Tensor:
    """Linear attention with ``phi = elu + 1``.

    Args:
        queries: (N, L, H, D). keys, values: (N, S, H, D).

    Returns:
        (N, L, H, D): ``phi(q) (phi(K)^T V) / (phi(q) . sum_s phi(k_s) + eps)``, values
        scaled by 1/S before and S after (the released fp16 guard).
    """
    q, k = F.elu(queries) + 1, F.elu(keys) + 1
    length = values.shape[1]
    kv = torch.einsum('nshd,nshv->nhdv', k, values / length)
    normaliser = 1 / (torch.einsum('nlhd,nhd->nlh', q, k.sum(dim=1)) + eps)
    return torch.einsum('nlhd,nhdv,nlh->nlhv', q, kv, normaliser) * length


class GuidedLinearAttention(nn.Module):
    """Multi-head linear attention whose queries / keys read [tokens, guidance]."""

    def __init__(self, dim: int, guidance_dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim + guidance_dim, dim)
        self.k = nn.Linear(dim + guidance_dim, dim)
        self.v = nn.Linear(dim, dim)

    def forward(self, x: Tensor, guidance: Tensor | None) -> Tensor:
        """(N, T, C) tokens, (N, T, G) guidance or None -> (N, T, C)."""
        both = torch.cat([x, guidance], dim=-1) if guidance is not None else x
        batch, length, _ = x.shape

        def heads(t: Tensor) -> Tensor:
            return t.reshape(batch, length, self.num_heads, -1)

        out = linear_attention(heads(self.q(both)), heads(self.k(both)), heads(self.v(x)))
        return out.reshape(batch, length, -1)


class ClassAggregation(nn.Module):
    """Pre-norm attention + ReLU MLP (ratio 4) across classes, on an average-pooled grid,
    upsampled (bilinear, corners aligned) and added back.

    Args:
        dim: cost-embedding channels C. guidance_dim: text-guidance channels G.
        num_heads: attention heads.
        pad_len: classes are padded with a learned token (and learned guidance) to this
            length when fewer (0 = no padding), as released (256).
    """

    def __init__(self, dim: int, guidance_dim: int, num_heads: int, pad_len: int = 256) -> None:
        super().__init__()
        self.attention = GuidedLinearAttention(dim, guidance_dim, num_heads)
        self.MLP = nn.Sequential(nn.Linear(dim, dim * 4), nn.ReLU(), nn.Linear(dim * 4, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.pad_len = pad_len
        self.padding_tokens = nn.Parameter(torch.zeros(1, 1, dim)) if pad_len > 0 else None
        self.padding_guidance = (nn.Parameter(torch.zeros(1, 1, guidance_dim))
                                 if pad_len > 0 and guidance_dim > 0 else None)

    def forward(self, x: Tensor, guidance: Tensor | None, pooling: tuple[int, int]) -> Tensor:
        """(B, C, T, H, W), (B, T, G) or None, pooling window -> (B, C, T, H, W)."""
        batch, channels, classes, height, width = x.shape
        grids = x.permute(0, 2, 1, 3, 4).reshape(batch * classes, channels, height, width)
        pooled = F.avg_pool2d(grids, pooling) if tuple(pooling) != (1, 1) else grids
        ph, pw = pooled.shape[-2:]
        tokens = pooled.view(batch, classes, channels, ph * pw).permute(0, 3, 1, 2)
        padding = max(self.pad_len - classes, 0) if self.padding_tokens is not None else 0
        if padding:
            pad = self.padding_tokens.expand(batch, ph * pw, padding, channels)
            tokens = torch.cat([tokens, pad], dim=2)
        tokens = tokens.reshape(batch * ph * pw, classes + padding, channels)
        if guidance is not None:
            if padding and self.padding_guidance is not None:
                guidance = torch.cat(
                    [guidance, self.padding_guidance.expand(batch, padding, -1)], dim=1)
            guidance = guidance.repeat_interleave(ph * pw, dim=0)
        tokens = tokens + self.attention(self.norm1(tokens), guidance)
        tokens = tokens + self.MLP(self.norm2(tokens))
        tokens = tokens.view(batch, ph, pw, classes + padding, channels)[:, :, :, :classes]
        grid = tokens.permute(0, 3, 4, 1, 2).reshape(batch * classes, channels, ph, pw)
        grid = F.interpolate(grid, size=(height, width), mode='bilinear', align_corners=True)
        return x + grid.view(batch, classes, channels, height, width).permute(0, 2, 1, 3, 4)
