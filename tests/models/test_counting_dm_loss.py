"""DMCount loss: Sinkhorn against an exact LP and the official code; OT / TV / count golden."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import linprog

from ovperception.models.counting.count_bins import points_to_block_counts
from ovperception.models.counting.dm_loss import dm_count_loss, ot_loss, sinkhorn

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'clip_ebc' / 'dm_loss.npz'


@pytest.fixture(scope='module')
def golden():
    return dict(np.load(GOLDEN))


def _exact_ot(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
    """min <P, C> s.t. P 1 = a, P^T 1 = b, P >= 0, by linear programming."""
    n, m = cost.shape
    rows = np.kron(np.eye(n), np.ones((1, m)))
    cols = np.kron(np.ones((1, n)), np.eye(m))
    result = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.concatenate([a, b]),
                     bounds=(0, None), method='highs')
    assert result.success
    return float(result.fun)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_sinkhorn_approaches_the_exact_lp_as_reg_shrinks(seed):
    rng = np.random.RandomState(seed)
    a, b = rng.uniform(0.1, 1, 3), rng.uniform(0.1, 1, 5)
    a, b = a / a.sum(), b / b.sum()
    cost = rng.uniform(0, 1, (3, 5))
    exact = _exact_ot(a, b, cost)
    tensors = [torch.tensor(x, dtype=torch.float64) for x in (a, b, cost)]
    solution = sinkhorn(*tensors, reg=0.03, max_iter=3000, stop_threshold=1e-20)
    plan = solution.plan.numpy()
    np.testing.assert_allclose(plan.sum(1), a, atol=1e-6)
    np.testing.assert_allclose(plan.sum(0), b, atol=1e-6)
    assert abs(float((plan * cost).sum()) - exact) < 3e-3  # measured 0.9e-3 .. 1.8e-3
    # entropic cost is never below the LP optimum and grows with reg
    loose = sinkhorn(*tensors, reg=0.1, max_iter=3000, stop_threshold=1e-20).plan.numpy()
    assert float((loose * cost).sum()) >= float((plan * cost).sum()) - 1e-9 >= exact - 1e-6


def test_sinkhorn_matches_the_official_code(golden):
    """DMCount's bregman_pytorch.sinkhorn (reg 10, 100 iterations), float32: 1e-5."""
    tensors = [torch.from_numpy(golden[k]) for k in ('sk_a', 'sk_b', 'sk_C')]
    solution = sinkhorn(*tensors, reg=10.0, max_iter=100)
    np.testing.assert_allclose(solution.plan.numpy(), golden['sk_P'], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(solution.beta.numpy(), golden['sk_beta'], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(solution.alpha.numpy(), golden['sk_alpha'], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='reg'):
        sinkhorn(*tensors, reg=0.0)


def _inputs(golden):
    points = [torch.from_numpy(golden[f'p{i}']) for i in range(3)]
    pred = torch.from_numpy(golden['pred'])[:, 0].clone().requires_grad_(True)
    target = torch.stack([points_to_block_counts(p, (32, 32), 8)[0] for p in points])
    return pred, target, points


def test_dm_count_loss_matches_the_official_dmloss(golden):
    """CLIP-EBC losses/dm_loss.py on the same densities and points: values 1e-5, gradient
    of the total w.r.t. the predicted density 1e-4 (float32)."""
    pred, target, points = _inputs(golden)
    out = dm_count_loss(pred, target, points, block_size=8)
    assert abs(out['ot'].item() - golden['dm_ot_loss'].item()) < 1e-4  # ~0 by construction
    np.testing.assert_allclose(out['tv'].item(), golden['dm_tv_loss'], rtol=1e-5)
    np.testing.assert_allclose(out['count'].item(), golden['dm_count_loss'], rtol=1e-5)
    out['total'].backward()
    np.testing.assert_allclose(pred.grad.numpy(), golden['dmcount_grad_pred'][:, 0],
                               rtol=1e-4, atol=1e-5)


def test_ot_gradient_and_wasserstein_distance_match_the_official_code(golden):
    pred, _, points = _inputs(golden)
    total, distances = ot_loss(pred, points, block_size=8)
    total.backward()
    np.testing.assert_allclose(pred.grad.numpy(), golden['ot_grad'][:, 0], rtol=1e-4, atol=1e-4)
    assert distances.sum().item() == pytest.approx(golden['ot_wd'].item(), rel=1e-5)
    assert distances[1] == 0.0  # no points: no transport
    # one image at a time gives the same (each problem stops on its own)
    for index in (0, 2):
        single = pred.detach()[index:index + 1].clone().requires_grad_(True)
        loss, distance = ot_loss(single, [points[index]], block_size=8)
        loss.backward()
        np.testing.assert_allclose(single.grad[0].numpy(), pred.grad[index].numpy(),
                                   rtol=1e-5, atol=1e-6)
        assert distance.item() == pytest.approx(distances[index].item(), rel=1e-6)


@pytest.mark.parametrize('count_loss', ['dmcount', 'mae', 'mse'])
def test_head_loss_is_the_official_dace_loss(golden, count_loss, monkeypatch):
    """BlockwiseCountingHead.loss on the official logits equals CLIP-EBC's DACELoss (CE
    summed over blocks, mean over images, + the count loss): value 1e-5, logit gradient 1e-4."""
    from mmengine.structures import InstanceData

    from ovperception.models.counting import BlockwiseCountingHead
    from ovperception.structures import OVDataSample
    head = BlockwiseCountingHead(8, feature_stride=8, block_size=8, count_loss=count_loss,
                                 representatives=[0, 1, 2, 3, 4.29992])
    logits = torch.from_numpy(golden['logits']).clone().requires_grad_(True)
    monkeypatch.setattr(head, 'bin_logits', lambda feats, text: logits[:, None])
    samples = []
    for index in range(3):
        sample = OVDataSample(metainfo=dict(img_shape=(32, 32)))
        sample.gt_instances = InstanceData(points=torch.from_numpy(golden[f'p{index}']))
        samples.append(sample)
    losses = head.loss(None, None, samples)
    total = losses['loss_cls'] + losses['loss_count']
    np.testing.assert_allclose(losses['loss_cls'].item(), golden[f'dace_{count_loss}_ce'].item(),
                               rtol=1e-5)
    np.testing.assert_allclose(total.item(), golden[f'dace_{count_loss}_loss'].item(), rtol=1e-5)
    total.backward()
    np.testing.assert_allclose(logits.grad.numpy(), golden[f'dace_{count_loss}_grad_logits'],
                               rtol=1e-4, atol=1e-5)
