"""WinCLIP's multi-scale windows over the patch grid, and the few-shot memory score.

Windows are ``k x k`` patch squares with stride 1 over an (h, w) patch grid.
A window's embedding is the CLIP class token of the visual transformer run on the
class token plus the window's patch tokens only (WinCLIP's masked forward; see
:meth:`OpenCLIPBackbone.window_embeddings`). Each patch then receives the
**harmonic mean** of the scores of the windows covering it (WinCLIP eq. 3), and
scales are fused by a harmonic mean as well.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-6


def window_indices(grid: tuple[int, int], size: int, stride: int = 1) -> Tensor:
    """Flat patch indices of every ``size x size`` window of a grid.

    Args:
        grid: (h, w) patch grid.
        size: window side in patches (clipped to the grid).
        stride: step between windows.

    Returns:
        (N, s*s) long tensor, windows in row-major order of their top-left patch,
        patches row-major inside a window.
    """
    h, w = grid
    sh, sw = min(size, h), min(size, w)
    tops = list(range(0, h - sh + 1, stride))
    lefts = list(range(0, w - sw + 1, stride))
    if tops[-1] != h - sh:
        tops.append(h - sh)
    if lefts[-1] != w - sw:
        lefts.append(w - sw)
    top = torch.tensor(tops).view(-1, 1, 1, 1)
    left = torch.tensor(lefts).view(1, -1, 1, 1)
    dy = torch.arange(sh).view(1, 1, -1, 1)
    dx = torch.arange(sw).view(1, 1, 1, -1)
    flat = (top + dy) * w + (left + dx)
    return flat.reshape(len(tops) * len(lefts), sh * sw)


def harmonic_patch_scores(window_scores: Tensor, indices: Tensor, grid: tuple[int, int]) -> Tensor:
    """Harmonic mean, per patch, of the scores of the windows covering it (vectorised).

    Args:
        window_scores: (B, N) scores in (0, 1].
        indices: (N, k) flat patch indices of each window (:func:`window_indices`).
        grid: (h, w).

    Returns:
        (B, h, w) patch scores; patches covered by no window get 0.
    """
    batch = window_scores.shape[0]
    n_patches = grid[0] * grid[1]
    inverse = 1.0 / window_scores.clamp_min(EPS)
    k = indices.shape[1]
    flat_index = indices.reshape(-1).to(window_scores.device)
    sums = window_scores.new_zeros(batch, n_patches).index_add_(
        1, flat_index, inverse.repeat_interleave(k, dim=1))
    counts = torch.bincount(flat_index, minlength=n_patches).to(window_scores.dtype)
    scores = torch.where(counts > 0, counts / sums.clamp_min(EPS), torch.zeros_like(sums))
    return scores.view(batch, *grid)


def harmonic_patch_scores_naive(window_scores: Tensor, indices: Tensor,
                                grid: tuple[int, int]) -> Tensor:
    """Reference loop implementation of :func:`harmonic_patch_scores` (tests only)."""
    batch = window_scores.shape[0]
    out = torch.zeros(batch, grid[0] * grid[1], dtype=window_scores.dtype)
    for b in range(batch):
        for patch in range(grid[0] * grid[1]):
            covering = [float(window_scores[b, n]) for n in range(indices.shape[0])
                        if patch in indices[n].tolist()]
            if covering:
                out[b, patch] = len(covering) / sum(1.0 / max(s, EPS) for s in covering)
    return out.view(batch, *grid)


def harmonic_fusion(maps: Sequence[Tensor]) -> Tensor:
    """Element-wise harmonic mean of equally shaped score maps."""
    stacked = torch.stack(list(maps))
    return len(maps) / (1.0 / stacked.clamp_min(EPS)).sum(dim=0)


def memory_distance(queries: Tensor, memory: Tensor) -> Tensor:
    """WinCLIP+ few-shot score: ``min_m (1 - cos(q, m)) / 2`` per query.

    Args:
        queries: (B, N, C) embeddings.
        memory: (M, C) embeddings of normal reference patches / windows.

    Returns:
        (B, N) scores in [0, 1].
    """
    sims = F.normalize(queries, dim=-1) @ F.normalize(memory, dim=-1).T
    return (1.0 - sims.max(dim=-1).values) / 2.0
