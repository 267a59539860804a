"""Multi-scale deformable attention in PyTorch: the grid_sample form equals a naive loop over
sampling points (bilinear interpolation, zero outside, pixel centres at (i + 0.5) / size).
Agreement with the official fallback inside the whole pixel decoder: test_fcclip_golden.py."""
from __future__ import annotations

import torch

from ovperception.models.panoptic.ms_deform_attn import (MSDeformAttn, deformable_sampling,
                                                         reference_points)


def naive_sampling(value, shapes, locations, weights):
    batch, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = locations.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(batch, queries, heads, dim, dtype=torch.float64)
    for b in range(batch):
        for q in range(queries):
            for m in range(heads):
                for lv, (h, w) in enumerate(shapes):
                    grid = value[b, starts[lv]:starts[lv + 1], m].reshape(h, w, dim).double()
                    for p in range(points):
                        x = float(locations[b, q, m, lv, p, 0]) * w - 0.5
                        y = float(locations[b, q, m, lv, p, 1]) * h - 0.5
                        x0, y0 = int(torch.tensor(x).floor()), int(torch.tensor(y).floor())
                        sample = torch.zeros(dim, dtype=torch.float64)
                        for yy, xx in ((y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1)):
                            if 0 <= yy < h and 0 <= xx < w:
                                sample += (1 - abs(x - xx)) * (1 - abs(y - yy)) * grid[yy, xx]
                        out[b, q, m] += float(weights[b, q, m, lv, p]) * sample
    return out.reshape(batch, queries, heads * dim)


def test_grid_sample_form_equals_the_naive_loop():
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (2, 2), (1, 3)]
    value = torch.randn(2, sum(h * w for h, w in shapes), 2, 3, generator=gen)
    locations = torch.rand(2, 5, 2, 3, 4, 2, generator=gen) * 1.4 - 0.2  # some outside
    weights = torch.rand(2, 5, 2, 3, 4, generator=gen)
    fast = deformable_sampling(value, shapes, locations, weights)
    torch.testing.assert_close(fast.double(), naive_sampling(value, shapes, locations, weights),
                               atol=1e-5, rtol=1e-5)


def test_module_attends_around_reference_points_and_backpropagates():
    attn = MSDeformAttn(dim=8, num_levels=2, num_heads=2, num_points=3)
    shapes = [(4, 4), (2, 2)]
    tokens = torch.randn(1, 20, 8, requires_grad=True)
    points = reference_points(shapes, 1, 2, tokens.device)
    assert points.shape == (1, 20, 2, 2)
    torch.testing.assert_close(points[0, 0, 0], torch.tensor([0.125, 0.125]))
    out = attn(tokens, points, tokens, shapes)
    assert out.shape == (1, 20, 8)
    out.sum().backward()
    assert tokens.grad.abs().sum() > 0 and attn.sampling_offsets.weight.grad.abs().sum() > 0
