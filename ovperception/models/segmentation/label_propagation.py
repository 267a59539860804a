"""Label propagation on sparse affinity graphs (LPOSS, Stojnic et al., CVPR 2025).

Every graph ``W`` (N x N, non-negative, symmetric) is turned into the system

    L = I - alpha * D^-1/2 (W - diag W) D^-1/2,      D = diag(row sums, 0 -> 1)

and each column ``y`` of the initial scores Y (N, K) is propagated by solving ``L f = y`` with at
most ``maxiter`` conjugate-gradient steps (relative tolerance ``tol``), as the official code does
column by column with ``cupyx.scipy.sparse.linalg.cg(L, y, tol=1e-6, maxiter=10)``. Here all
columns run at once with per-column step sizes, in float64 (the official sparse matrices are
float64), which gives the per-column result.
"""
from __future__ import annotations

from itertools import product

import torch
from torch import Tensor


def normalized_system(rows: Tensor, cols: Tensor, values: Tensor, size: int,
                      alpha: float) -> Tensor:
    """The sparse (N, N) float64 ``L = I - alpha * D^-1/2 W D^-1/2`` of the graph ``W``.

    Args:
        rows, cols: (E,) edge end points (duplicates are summed).
        values: (E,) edge weights.
        size: N.
        alpha: propagation strength in [0, 1).
    """
    keep = rows != cols  # the official W - diags(W.diagonal())
    rows, cols, values = rows[keep], cols[keep], values[keep].double()
    degree = torch.zeros(size, dtype=torch.float64, device=values.device)
    degree.index_add_(0, rows, values)
    degree[degree == 0] = 1.0
    scale = degree.rsqrt()
    values = -alpha * scale[rows] * values * scale[cols]
    diagonal = torch.arange(size, device=values.device)
    indices = torch.cat([torch.stack([rows, cols]), torch.stack([diagonal, diagonal])], dim=1)
    values = torch.cat([values, torch.ones(size, dtype=torch.float64, device=values.device)])
    return torch.sparse_coo_tensor(indices, values, (size, size),
                                   check_invariants=False).coalesce()


def conjugate_gradient(system: Tensor, targets: Tensor, tol: float = 1e-6,
                       maxiter: int = 10) -> Tensor:
    """Solve ``system @ f = y`` for every column ``y`` of ``targets`` (scipy's CG, x0 = 0).

    A column stops once its residual norm is below ``tol * |y|``.

    Args:
        system: (N, N) sparse symmetric positive-definite float64 matrix.
        targets: (N, K).

    Returns:
        (N, K) float64 solutions.
    """
    b = targets.double()
    x = torch.zeros_like(b)
    r = b.clone()
    p = torch.zeros_like(b)
    atol = tol * b.norm(dim=0)
    rho_prev = torch.ones(b.shape[1], dtype=b.dtype, device=b.device)
    for iteration in range(maxiter):
        active = r.norm(dim=0) >= atol
        if not bool(active.any()):
            break
        rho = (r * r).sum(dim=0)
        p = r + (rho / rho_prev) * p if iteration else r.clone()
        q = system @ p
        curvature = (p * q).sum(dim=0)
        step = torch.where(active, rho / torch.where(curvature == 0, 1.0, curvature), 0.0)
        x = x + step * p
        r = r - step * q
        rho_prev = torch.where(active, rho, rho_prev)
    return x


def propagate(rows: Tensor, cols: Tensor, values: Tensor, scores: Tensor, alpha: float,
              tol: float = 1e-6, maxiter: int = 10) -> Tensor:
    """(N, K) scores propagated over the graph given by its edges -> (N, K) float64."""
    system = normalized_system(rows, cols, values, scores.shape[0], alpha)
    return conjugate_gradient(system, scores, tol, maxiter)


def knn_patch_graph(features: Tensor, centres: Tensor, k: int, gamma: float, sigma: float,
                    distance_power: float) -> tuple[Tensor, Tensor, Tensor]:
    """LPOSS's patch graph: k nearest neighbours in feature space, weighted by
    ``max(cos, 0)^gamma * exp(-sigma * |c_i - c_j|^distance_power)``, symmetrised (W + W^T).

    Args:
        features: (N, D) L2-normalised DINO features of every patch of every window.
        centres: (N, 2) patch centres in image pixels.
        k: neighbours per patch (the patch itself included; at most N).

    Returns:
        (rows, cols, values), each (2 N k,).
    """
    n = features.shape[0]
    k = min(int(k), n)
    similarity, neighbours = torch.topk(features.float() @ features.float().T, k, dim=1)
    weights = similarity.clamp(min=0) ** gamma
    distance = torch.cdist(centres.double()[None], centres.double()[None])[0] ** distance_power
    geometry = torch.exp(-sigma * distance).gather(1, neighbours)
    values = (weights.double() * geometry).flatten()
    rows = torch.arange(n, device=features.device).repeat_interleave(k)
    cols = neighbours.flatten()
    return torch.cat([rows, cols]), torch.cat([cols, rows]), torch.cat([values, values])


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """(3, H, W) sRGB in [0, 1] -> (3, H, W) CIE Lab (D65), the conversion of kornia 0.7."""
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    matrix = torch.tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]], dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum('ij,jhw->ihw', matrix, linear)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype, device=rgb.device)
    xyz = xyz / white.view(3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp(min=1e-6) ** (1 / 3), 7.787 * xyz + 4.0 / 29.0)
    return torch.stack([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def pixel_graph(rgb: Tensor, radius: int, tau: float) -> tuple[Tensor, Tensor, Tensor]:
    """LPOSS+'s pixel graph: every pixel linked to the others of its (2 radius + 1)^2 window,
    weighted by ``exp(-|lab_i - lab_j| / tau)`` (Lab scaled by 1/100, 1/128, 1/128).

    Args:
        rgb: (3, H, W) RGB in [0, 1].

    Returns:
        (rows, cols, values) over the H*W pixels (row-major).
    """
    _, height, width = rgb.shape
    lab = rgb_to_lab(rgb.float())
    lab = (lab / torch.tensor([100.0, 128.0, 128.0], device=rgb.device).view(3, 1, 1))
    lab = lab.permute(1, 2, 0).reshape(-1, 3)
    index = torch.arange(height * width, device=rgb.device).view(height, width)
    rows, cols = [], []
    for dy, dx in product(range(-radius, radius + 1), repeat=2):
        if dy == 0 and dx == 0:
            continue
        y0, y1 = max(0, -dy), min(height, height - dy)
        x0, x1 = max(0, -dx), min(width, width - dx)
        if y1 <= y0 or x1 <= x0:
            continue
        rows.append(index[y0:y1, x0:x1].flatten())
        cols.append(index[y0 + dy:y1 + dy, x0 + dx:x1 + dx].flatten())
    rows, cols = torch.cat(rows), torch.cat(cols)
    distance = ((lab[rows] - lab[cols]) ** 2).sum(dim=-1).sqrt()
    return rows, cols, torch.exp(-distance / tau)
