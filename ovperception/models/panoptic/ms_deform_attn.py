"""Multi-scale deformable attention (Deformable DETR), in plain PyTorch.

Each query looks at ``num_points`` locations per head and per feature level, placed at
learned offsets around its reference point, and sums the bilinearly sampled values with
softmax weights. The sampling is ``F.grid_sample`` (bilinear, zero padding,
``align_corners=False``), the exact operation the compiled CUDA kernel computes, so no
compiled op is needed on any device.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def deformable_sampling(value: Tensor, shapes: Sequence[tuple[int, int]],
                        locations: Tensor, weights: Tensor) -> Tensor:
    """Weighted bilinear samples of every level at every sampling location.

    Args:
        value: (B, S, M, D) values of all levels, flattened level after level
            (S = sum of h_l * w_l), M heads of D channels.
        shapes: the (h_l, w_l) of each level.
        locations: (B, Lq, M, L, P, 2) sampling locations, (x, y) in [0, 1] of each level.
        weights: (B, Lq, M, L, P) attention weights.

    Returns:
        (B, Lq, M * D).
    """
    batch, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = locations.shape
    grids = 2 * locations - 1
    per_level = value.split([h * w for h, w in shapes], dim=1)
    # (B, Lq, M, L, P) -> (B*M, Lq, L, P)
    flat_weights = weights.transpose(1, 2).reshape(batch * heads, queries, levels, points)
    out = None
    for level, (height, width) in enumerate(shapes):
        # (B, h*w, M, D) -> (B*M, D, h, w)
        level_value = per_level[level].flatten(2).transpose(1, 2).reshape(
            batch * heads, dim, height, width)
        # (B, Lq, M, P, 2) -> (B*M, Lq, P, 2)
        grid = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampled = F.grid_sample(level_value, grid, mode='bilinear', padding_mode='zeros',
                                align_corners=False)  # (B*M, D, Lq, P)
        # weighted sum over the points as a batched matrix product (no stacked copy)
        term = torch.einsum('ndqp,nqp->ndq', sampled, flat_weights[:, :, level])
        out = term if out is None else out + term
    return out.reshape(batch, heads * dim, queries).transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention with Deformable DETR's initialisation.

    Args:
        dim: model width.
        num_levels: feature levels attended to.
        num_heads: attention heads (must divide ``dim``).
        num_points: sampling points per head and level.
    """

    def __init__(self, dim: int = 256, num_levels: int = 4, num_heads: int = 8,
                 num_points: int = 4) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim {dim} must be divisible by num_heads {num_heads}')
        self.dim, self.num_levels, self.num_heads, self.num_points = \
            dim, num_levels, num_heads, num_points
        self.sampling_offsets = nn.Linear(dim, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(dim, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Offsets start on a ring of directions (one per head) at 1..P cells."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.num_heads, dtype=torch.float32) * (2 * math.pi / self.num_heads)
        directions = torch.stack([angles.cos(), angles.sin()], -1)
        directions = directions / directions.abs().max(-1, keepdim=True).values
        grid = directions.view(self.num_heads, 1, 1, 2).repeat(1, self.num_levels,
                                                               self.num_points, 1)
        grid = grid * torch.arange(1, self.num_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for linear in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, query: Tensor, reference_points: Tensor, value_input: Tensor,
                shapes: Sequence[tuple[int, int]]) -> Tensor:
        """Attend from each query to its sampling points.

        Args:
            query: (B, Lq, dim) queries (with positions added).
            reference_points: (B, Lq, L, 2) reference (x, y) in [0, 1] per level.
            value_input: (B, S, dim) flattened features of all levels.
            shapes: (h_l, w_l) of each level.

        Returns:
            (B, Lq, dim).
        """
        batch, queries, _ = query.shape
        value = self.value_proj(value_input).view(batch, value_input.shape[1], self.num_heads,
                                                  self.dim // self.num_heads)
        offsets = self.sampling_offsets(query).view(batch, queries, self.num_heads,
                                                    self.num_levels, self.num_points, 2)
        weights = self.attention_weights(query).view(
            batch, queries, self.num_heads, self.num_levels * self.num_points).softmax(-1)
        weights = weights.view(batch, queries, self.num_heads, self.num_levels, self.num_points)
        normaliser = torch.tensor([[w, h] for h, w in shapes], dtype=query.dtype,
                                  device=query.device)
        locations = (reference_points[:, :, None, :, None, :]
                     + offsets / normaliser[None, None, None, :, None, :])
        return self.output_proj(deformable_sampling(value, shapes, locations, weights))


def reference_points(shapes: Sequence[tuple[int, int]], batch: int, num_levels: int,
                     device: torch.device) -> Tensor:
    """(B, S, L, 2) pixel-centre (x, y) in [0, 1] of every flattened location (no padding)."""
    points = []
    for height, width in shapes:
        ys = torch.linspace(0.5, height - 0.5, height, dtype=torch.float32, device=device)
        xs = torch.linspace(0.5, width - 0.5, width, dtype=torch.float32, device=device)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
        points.append(torch.stack([grid_x.reshape(-1) / width, grid_y.reshape(-1) / height], -1))
    flat = torch.cat(points, 0)
    return flat[None, :, None, :].expand(batch, -1, num_levels, -1)
