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
    """Entropic OT solution: ``plan = u[..., :, None] * K * v[..., None, :]`` and the dual
    potentials ``alpha = reg * log(u)``, ``beta = reg * log(v)``; ``iterations`` run (the
    most over a batch)."""

    plan: Tensor
    alpha: Tensor
    beta: Tensor
    iterations: int


def sinkhorn(a: Tensor, b: Tensor, cost: Tensor, reg: float, max_iter: int = 100,
             stop_threshold: float = 1e-9, check_every: int = 10,
             num_rows: Tensor | None = None) -> SinkhornResult:
    """Sinkhorn-Knopp matrix scaling for ``min <P, C> + reg * sum P log P`` s.t. the
    marginals of ``P`` are ``a`` and ``b`` (DMCount's ``bregman_pytorch.sinkhorn``).

    Every ``check_every`` iterations the squared error of the ``b`` marginal is measured and
    a problem stops once it is at most ``stop_threshold``; a NaN / inf scaling restores the
    previous one and stops that problem (as DMCount does). A batch of problems runs at once,
    each stopping on its own, with the result of running them one by one.

    Args:
        a: (n,) or (B, n) non-negative source masses; rows past ``num_rows`` are padding
            (mass 0).
        b: (m,) or (B, m) non-negative target masses.
        cost: (n, m) or (B, n, m) cost matrix.
        reg: entropic regularisation (> 0).
        max_iter: at most this many iterations.
        num_rows: (B,) real rows of each problem (default all n); DMCount starts ``u`` at
            ``1 / n``.

    Returns:
        :class:`SinkhornResult` (plan (B?, n, m), alpha (B?, n), beta (B?, m)).
    """
    if reg <= 0:
        raise ValueError(f'reg must be positive, got {reg}')
    batched = a.dim() == 2
    if not batched:
        a, b, cost = a[None], b[None], cost[None]
    if cost.shape != (*a.shape, b.shape[-1]) or a.shape[0] != b.shape[0]:
        raise ValueError(f'cost {tuple(cost.shape)} does not match a {tuple(a.shape)} and '
                         f'b {tuple(b.shape)}')
    rows = torch.full((a.shape[0],), a.shape[1], device=a.device) if num_rows is None \
        else num_rows.to(a.device)
    real = torch.arange(a.shape[1], device=a.device)[None] < rows[:, None]
    u = torch.where(real, 1.0 / rows.clamp_min(1)[:, None].to(a.dtype), torch.zeros_like(a))
    v = torch.full_like(b, 1.0 / b.shape[1])
    kernel = torch.exp(cost / -reg)
    active = torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        new_v = b / (torch.bmm(u[:, None], kernel)[:, 0] + SINKHORN_EPS)
        new_u = a / (torch.bmm(kernel, new_v[:, :, None])[:, :, 0] + SINKHORN_EPS)
        step = active & torch.isfinite(torch.cat([new_u, new_v], 1)).all(1)
        u = torch.where(step[:, None], new_u, u)
        v = torch.where(step[:, None], new_v, v)
        active = step
        if iteration % check_every == 0:
            error = (b - torch.bmm(u[:, None], kernel)[:, 0] * v).pow(2).sum(1)
            active = active & (error > stop_threshold)
        if not bool(active.any()):
            break
    plan = u[:, :, None] * kernel * v[:, None, :]
    alpha, beta = reg * torch.log(u + SINKHORN_EPS), reg * torch.log(v + SINKHORN_EPS)
    if not batched:
        plan, alpha, beta = plan[0], alpha[0], beta[0]
    return SinkhornResult(plan, alpha, beta, iteration)


def block_centres(size: int, block_size: int, device: torch.device) -> Tensor:
    """Pixel coordinates of the block centres along one axis: (size // block_size,)."""
    return (torch.arange(0, size, block_size, dtype=torch.float32, device=device)
            + block_size / 2)


def ot_loss(density: Tensor, points: Sequence[Tensor], block_size: int, reg: float = 10.0,
            num_iter: int = 100) -> tuple[Tensor, Tensor]:
    """DMCount's OT term of a batch, summed over images (one batched Sinkhorn).

    Args:
        density: (B, h, w) predicted block counts (with gradient).
        points: per image, (N_i, 2) xy pixel coordinates in the same (crop) image; N_i may
            be 0 (no OT term).
        block_size: pixels per block.

    Returns:
        ``(loss, wasserstein)``: the scalar surrogate whose gradient w.r.t. ``density`` is
        the OT gradient, and (B,) ``<P, C>`` of each image's Sinkhorn plan (0 without points).
    """
    batch, rows, cols = density.shape
    device = density.device
    counts = torch.tensor([len(p) for p in points], device=device)
    wasserstein = torch.zeros(batch, device=device)
    with_points = torch.nonzero(counts > 0).flatten().tolist()
    if not with_points:
        return density.sum() * 0.0, wasserstein
    most = int(counts.max())
    padded = torch.zeros(len(with_points), most, 2, device=device)
    for slot, index in enumerate(with_points):
        padded[slot, :len(points[index])] = points[index].float().to(device)
    centres_y = block_centres(rows * block_size, block_size, device)
    centres_x = block_centres(cols * block_size, block_size, device)
    dist_y = (padded[..., 1:2] - centres_y) ** 2  # (b, N, h)
    dist_x = (padded[..., 0:1] - centres_x) ** 2  # (b, N, w)
    cost = (dist_y[..., :, None] + dist_x[..., None, :]).flatten(2)  # (b, N, h*w) row-major
    flat = density[with_points].float().flatten(1)  # (b, h*w)
    count = flat.detach().sum(1, keepdim=True)
    source = flat.detach() / (count + EPS)
    rows_real = counts[with_points]
    real = torch.arange(most, device=device)[None] < rows_real[:, None]
    target = real.float() / rows_real[:, None].float()
    solution = sinkhorn(target, source, cost, reg, max_iter=num_iter, num_rows=rows_real)
    beta = solution.beta
    gradient = count / (count * count + EPS) * beta - (flat.detach() * beta).sum(
        1, keepdim=True) / (count * count + EPS)
    loss = (flat * gradient.detach()).sum()
    wasserstein[with_points] = (cost * solution.plan).sum((1, 2)).detach()
    return loss, wasserstein


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
    ot = ot_loss(pred, points, block_size, reg, num_iter)[0]
    tv = ((normed_pred - normed_target).abs().flatten(1).sum(1) * target_count).mean()
    count = (pred_count - target_count).abs().mean()
    return dict(ot=ot, tv=tv, count=count, total=weight_ot * ot + weight_tv * tv + count)
