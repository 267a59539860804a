"""Trident's global aggregation: propagate CLIP scores along SAM-encoder affinities.

Trident (ICCV 2025) splices the dense CLIP features of sub-images into one map of the large
image and aggregates it globally with affinities from SAM's image encoder, computed once on
the whole image. With the last SAM encoder block's per-head queries ``q``, keys ``k`` and
values ``v`` resampled to the CLIP token grid (``n`` tokens), for every head ``h``:

    a^h_ij = softmax_j(s * q^h_i . k^h_j)                      (s = head_dim ** -0.5)
    c^h_ij = cos(v^h_i, v^h_j)
    t^h_i  = min(gamma * mean_j c^h_ij, cap)                    (gamma = 1.2, cap = 0.9)
    w_ij   = (1 / H) sum_h a^h_ij [c^h_ij > t^h_i]              (attention kept on similar values)
    A_ij   = w_ij / sum_j w_ij                                  (row-normalised)
    S'_i   = sum_j A_ij S_j

The cap keeps ``c_ii = 1`` above the threshold, so no row is empty.

The official Trident (:func:`trident_affinity`, what :class:`~ovperception.models.segmentation.TridentHead`
uses by default) differs: the attention ``a^h`` is SAM's own (softmax over the whole padded
64 x 64 grid with the block's relative-position terms, then restricted to the valid grid),
the threshold is one per query, ``t_i = min(gamma * mean_h mean_j c^h_ij, cap)`` (with
``refine_negative=False`` a negative ``t_i`` becomes 0.6), and everything lives on SAM's
valid token grid, onto which the spliced CLIP tokens are resized. ``S`` is any map on the
CLIP grid: :meth:`SAMAffinityAggregation.aggregate_grid` applies ``A`` to it as it is (Trident:
the stitched dense CLIP features, C channels, which :class:`~ovperception.models.segmentation.TridentHead`
then re-normalises and matches with the text), :meth:`SAMAffinityAggregation.aggregate` to
per-name score maps at the working resolution (averaged onto the grid, aggregated, resized
back; without Trident's re-normalisation of the aggregated features). This variant omits
the relative-position terms of SAM's attention (they belong to SAM's own 64 x 64 grid).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ovperception.models.refiners.sam import SAMImageState, SAMWrapper
from ovperception.registry import MODELS


def resample_qkv(last_qkv: Tensor, size: tuple[int, int]) -> Tensor:
    """(3, heads, h', w', d) SAM tokens -> (3, heads, h * w, d) on a (h, w) grid (bilinear)."""
    three, heads, height, width, dim = last_qkv.shape
    grid = last_qkv.permute(0, 1, 4, 2, 3).reshape(1, three * heads * dim, height, width)
    if (height, width) != tuple(size):
        grid = F.interpolate(grid.float(), size=size, mode='bilinear', align_corners=False)
    grid = grid.reshape(three, heads, dim, size[0] * size[1])
    return grid.transpose(2, 3).float()


def sam_affinity(q: Tensor, k: Tensor, v: Tensor, scale: float, cos_factor: float = 1.2,
                 cos_cap: float = 0.9) -> Tensor:
    """Row-normalised affinity ``A`` of the module docstring.

    Args:
        q, k, v: (heads, n, d) per-head tokens.
        scale: attention scale ``s``.
        cos_factor: ``gamma`` on the mean value cosine.
        cos_cap: upper bound ``cap`` of the threshold (< 1 keeps the diagonal).

    Returns:
        (n, n) affinities, each row summing to one.
    """
    if not cos_cap < 1.0:
        raise ValueError(f'cos_cap must be < 1 so that every token keeps itself, got {cos_cap}')
    heads, num, _ = q.shape
    weights = q.new_zeros((num, num))
    for head in range(heads):  # one (n, n) head at a time bounds the memory
        attention = torch.softmax((q[head] @ k[head].T) * scale, dim=-1)
        values = F.normalize(v[head], dim=-1)
        cosine = values @ values.T
        threshold = (cos_factor * cosine.mean(dim=1, keepdim=True)).clamp(max=cos_cap)
        weights += attention * (cosine > threshold)
    weights /= heads
    return weights / weights.sum(dim=1, keepdim=True)


def trident_affinity(attention: Callable[[int], Tensor], values: Tensor,
                     cos_factor: float = 1.2, cos_cap: float = 0.9,
                     refine_negative: bool = True) -> Tensor:
    """Official Trident affinity on SAM's valid grid (see the module docstring).

    Args:
        attention: ``head -> (n, n)`` SAM attention of that head on the valid grid
            (:meth:`SAMWrapper.last_block_attention`), requested one head at a time.
        values: (heads, n, d) SAM values on the valid grid.
        cos_factor: ``gamma`` (0 keeps every positive cosine).
        cos_cap: cap of the threshold.
        refine_negative: False: a negative threshold becomes 0.6 (ADE20K, Cityscapes configs).

    Returns:
        (n, n) row-normalised affinity.
    """
    heads, num, _ = values.shape
    normalised = F.normalize(values.float(), dim=-1)
    mean_cosine = values.new_zeros(num, dtype=torch.float32)
    for head in range(heads):  # one (n, n) head at a time bounds the memory
        mean_cosine += (normalised[head] @ normalised[head].T).mean(dim=1)
    threshold = cos_factor * mean_cosine / heads
    if not refine_negative:
        threshold = torch.where(threshold < 0.0, torch.full_like(threshold, 0.6), threshold)
    threshold = threshold.clamp(max=cos_cap)[:, None]
    weights = values.new_zeros((num, num), dtype=torch.float32)
    for head in range(heads):
        cosine = normalised[head] @ normalised[head].T
        weights += torch.where(cosine > threshold, attention(head).to(weights.device), 0.0)
    weights /= heads
    return weights / weights.sum(dim=1, keepdim=True)


@MODELS.register_module()
class SAMAffinityAggregation(nn.Module):
    """Trident's global aggregation as a score refiner (see the module docstring).

    Usable as any :class:`~ovperception.models.segmentation.DenseSimilarityHead`'s
    ``score_refiner``: ``forward(image (1, 3, H, W), scores (1, N, H, W))`` encodes the image
    with SAM once and aggregates the scores. :class:`~ovperception.models.segmentation.TridentHead`
    calls :meth:`aggregate` with a SAM state it shares with the SAM refinement.

    Args:
        sam: a :class:`SAMWrapper` or its config.
        grid_stride: stride of the CLIP token grid in working-resolution pixels (the
            backbone's patch size).
        cos_factor: ``gamma`` (Trident: 1.2).
        cos_cap: threshold cap (Trident: 0.9).
    """

    def __init__(self, sam: SAMWrapper | dict, grid_stride: int = 16, cos_factor: float = 1.2,
                 cos_cap: float = 0.9) -> None:
        super().__init__()
        if grid_stride < 1:
            raise ValueError(f'grid_stride must be >= 1, got {grid_stride}')
        if not cos_cap < 1.0:
            raise ValueError(f'cos_cap must be < 1, got {cos_cap}')
        self.sam = MODELS.build(sam) if isinstance(sam, dict) else sam
        self.grid_stride = int(grid_stride)
        self.cos_factor = float(cos_factor)
        self.cos_cap = float(cos_cap)

    def forward(self, image: Tensor, scores: Tensor) -> Tensor:
        """(1, 3, H', W') RGB 0..255 image, (1, N, H, W) scores -> (1, N, H, W)."""
        if image.shape[0] != 1 or scores.shape[0] != 1:
            raise ValueError('SAMAffinityAggregation takes one image at a time')
        state = self.sam.set_image(image[0], keep_qkv=True)
        return self.aggregate(scores, state)

    def grid_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """CLIP token grid of a (H, W) working-resolution map."""
        return (-(-size[0] // self.grid_stride), -(-size[1] // self.grid_stride))

    def affinity(self, state: SAMImageState, grid: tuple[int, int]) -> Tensor:
        """(n, n) affinity on a ``grid`` of ``n`` tokens from a state encoded with ``keep_qkv``."""
        if state.last_qkv is None:
            raise ValueError('the SAM state has no last-block qkv: encode with keep_qkv=True')
        q, k, v = resample_qkv(state.last_qkv, grid)
        return sam_affinity(q, k, v, self.sam.last_block_scale, self.cos_factor, self.cos_cap)

    def aggregate_grid(self, values: Tensor, state: SAMImageState) -> Tensor:
        """``S' = S Aᵀ`` on the token grid: (1, D, gh, gw) -> (1, D, gh, gw) (float32).

        Args:
            values: any map on the CLIP token grid (features or scores).
            state: SAM state of the same image with ``last_qkv``.
        """
        grid = tuple(values.shape[-2:])
        affinity = self.affinity(state, grid).to(values.device)
        return (values.float().flatten(2) @ affinity.T).reshape(values.shape)

    def aggregate(self, scores: Tensor, state: SAMImageState) -> Tensor:
        """(1, N, H, W) scores -> (1, N, H, W): averaged onto the grid, aggregated, resized back.

        Args:
            scores: stitched per-name scores at the working resolution.
            state: SAM state of the same image with ``last_qkv``.
        """
        size = tuple(scores.shape[-2:])
        coarse = F.adaptive_avg_pool2d(scores.float(), self.grid_size(size))  # (1, N, gh, gw)
        aggregated = self.aggregate_grid(coarse, state)
        return F.interpolate(aggregated, size=size, mode='bilinear',
                             align_corners=False).to(scores.dtype)

    def extra_repr(self) -> str:  # pragma: no cover - cosmetic
        return (f'grid_stride={self.grid_stride}, cos_factor={self.cos_factor}, '
                f'cos_cap={self.cos_cap}')
