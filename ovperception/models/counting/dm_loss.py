"""DMCount's count loss (Wang et al., NeurIPS 2020), CLIP-EBC's default ``count_loss``.

For a predicted block-count map ``D`` (total ``c = sum D``, normalised ``D / c``) and the
N annotated points of an image:

* **OT**: the entropic optimal transport between the points (mass 1/N each) and ``D / c``
  over the block centres, with the squared pixel distance as cost, solved by Sinkhorn
  (``reg`` 10, 100 iterations). Its dual potential ``beta`` on the blocks gives the
  gradient of the transport cost w.r.t. ``D``: ``beta / c - <D, beta> / c^2``; the loss is
  ``<D, gradient>`` with that gradient held fixed, so back-propagation sees exactly it (its
  value is ~0 by construction, as in DMCount).
* **TV**: ``N * || D / c - G / N ||_1`` with ``G`` the ground-truth block counts.
* **count**: ``| c - N |``.

``loss = weight_ot * OT + weight_tv * TV + count``; OT is summed over images, TV and count
are averaged over the batch, all as in CLIP-EBC's ``losses/dm_loss.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

#: Denominator guard of DMCount (``EPS``) and of its Sinkhorn (``M_EPS``).
EPS, SINKHORN_EPS = 1e-8, 1e-16


@dataclass
class SinkhornResult:
    """Entropic OT solution: ``plan = u[:, None] * K * v[None]`` and the dual potentials
    ``alpha = reg * log(u)``, ``beta = reg * log(v)``; ``iterations`` run."""

    plan: Tensor
    alpha: Tensor
    beta: Tensor
    iterations: int


def sinkhorn(a: Tensor, b: Tensor, cost: Tensor, reg: float, max_iter: int = 100,
             stop_threshold: float = 1e-9, check_every: int = 10) -> SinkhornResult:
    """Sinkhorn-Knopp matrix scaling for ``min <P, C> + reg * sum P log P`` s.t. the
    marginals of ``P`` are ``a`` and ``b`` (DMCount's ``bregman_pytorch.sinkhorn``).

    Every ``check_every`` iterations the squared error of the ``b`` marginal is measured and
    the loop stops once it is at most ``stop_threshold``; a NaN / inf scaling restores the
    previous one and stops (as DMCount does).

    Args:
        a: (n,) non-negative source masses.
        b: (m,) non-negative target masses.
        cost: (n, m) cost matrix.
        reg: entropic regularisation (> 0).
        max_iter: at most this many iterations.

    Returns:
        :class:`SinkhornResult` (plan (n, m), alpha (n,), beta (m,)).
    """
    if reg <= 0:
        raise ValueError(f'reg must be positive, got {reg}')
    if cost.shape != (a.shape[0], b.shape[0]):
        raise ValueError(f'cost {tuple(cost.shape)} does not match a {tuple(a.shape)} and '
                         f'b {tuple(b.shape)}')
    u = torch.full_like(a, 1.0 / a.shape[0])
    v = torch.full_like(b, 1.0 / b.shape[0])
    kernel = torch.exp(cost / -reg)
    error, iteration = 1.0, 1
    while error > stop_threshold and iteration <= max_iter:
        previous = u, v
        v = b / (u @ kernel + SINKHORN_EPS)
        u = a / (kernel @ v + SINKHORN_EPS)
        if not (torch.isfinite(u).all() and torch.isfinite(v).all()):
            u, v = previous
            break
        if iteration % check_every == 0:
            error = float((b - (u @ kernel) * v).pow(2).sum())
        iteration += 1
    plan = u[:, None] * kernel * v[None]
    return SinkhornResult(plan, reg * torch.log(u + SINKHORN_EPS),
                          reg * torch.log(v + SINKHORN_EPS), iteration - 1)


def block_centres(size: int, block_size: int, device: torch.device) -> Tensor:
    """Pixel coordinates of the block centres along one axis: (size // block_size,)."""
    return (torch.arange(0, size, block_size, dtype=torch.float32, device=device)
            + block_size / 2)


def ot_loss(density: Tensor, points: Tensor, block_size: int, reg: float = 10.0,
            num_iter: int = 100) -> tuple[Tensor, float]:
    """DMCount's OT term of one image.

    Args:
        density: (h, w) predicted block counts (with gradient).
        points: (N, 2) xy pixel coordinates in the same (crop) image; N may be 0.
        block_size: pixels per block.

    Returns:
        ``(loss, wasserstein)``: the scalar surrogate whose gradient w.r.t. ``density`` is
        the OT gradient (0 without points), and ``<P, C>`` of the Sinkhorn plan (a float).
    """
    if len(points) == 0:
        return density.sum() * 0.0, 0.0
    rows, cols = density.shape
    centres_y = block_centres(rows * block_size, block_size, density.device)
    centres_x = block_centres(cols * block_size, block_size, density.device)
    points = points.float()
    dist_y = (points[:, 1:2] - centres_y[None]) ** 2  # (N, h)
    dist_x = (points[:, 0:1] - centres_x[None]) ** 2  # (N, w)
    cost = (dist_y[:, :, None] + dist_x[:, None, :]).flatten(1)  # (N, h*w), row-major
    flat = density.float().flatten()
    count = flat.detach().sum()
    source = flat.detach() / (count + EPS)
    target = torch.full((len(points),), 1.0 / len(points), device=density.device)
    solution = sinkhorn(target, source, cost, reg, max_iter=num_iter)
    beta = solution.beta
    gradient = count / (count * count + EPS) * beta - (flat.detach() * beta).sum() / (
        count * count + EPS)
    loss = (flat * gradient.detach()).sum()
    return loss, float((cost * solution.plan).sum())


def dm_count_loss(pred: Tensor, target: Tensor, points: Sequence[Tensor], block_size: int,
                  weight_ot: float = 0.1, weight_tv: float = 0.01, reg: float = 10.0,
                  num_iter: int = 100) -> dict[str, Tensor]:
    """DMCount loss of a batch.

    Args:
        pred: (B, h, w) predicted block counts.
        target: (B, h, w) ground-truth block counts.
        points: per image, (N_i, 2) xy pixel coordinates of the annotated objects.
        block_size: pixels per block.
        weight_ot, weight_tv: weights of the OT and TV terms (DMCount: 0.1, 0.01).
        reg, num_iter: Sinkhorn regularisation and iterations (DMCount: 10, 100).

    Returns:
        dict of ``ot``, ``tv``, ``count`` (unweighted) and ``total``
        (``weight_ot * ot + weight_tv * tv + count``).
    """
    if len(points) != pred.shape[0] or pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)}, target {tuple(target.shape)} and '
                         f'{len(points)} point sets do not match')
    pred, target = pred.float(), target.float()
    pred_count = pred.flatten(1).sum(1)
    target_count = torch.tensor([float(len(p)) for p in points], device=pred.device)
    normed_pred = pred / (pred_count[:, None, None] + EPS)
    normed_target = target / (target_count[:, None, None] + EPS)
    ot = pred.sum() * 0.0
    for density, image_points in zip(pred, points):
        ot = ot + ot_loss(density, image_points.to(pred.device), block_size, reg, num_iter)[0]
    tv = ((normed_pred - normed_target).abs().flatten(1).sum(1) * target_count).mean()
    count = (pred_count - target_count).abs().mean()
    return dict(ot=ot, tv=tv, count=count, total=weight_ot * ot + weight_tv * tv + count)
