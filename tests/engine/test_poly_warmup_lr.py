"""``PolyWarmupLR`` against the lr sequence of the official ``PolyWarmupAdamW``
(zwyang6/ExCEL @ 2cd7f51, ``tests/fixtures/golden/excel/schedule.json``, NOTE_data.md)."""
from __future__ import annotations

import json
import os

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import LinearLR, PolyLR

from ovperception.engine.schedulers import PolyWarmupLR
from ovperception.registry import PARAM_SCHEDULERS

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'golden', 'excel',
                       'schedule.json')
BASE_LRS = (1e-4, 1e-3)  # the official backbone groups (empty) and the seg head (lr * 10)


def _optim_wrapper() -> OptimWrapper:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in BASE_LRS]
    optimizer = torch.optim.AdamW([dict(params=[p], lr=lr) for p, lr in zip(params, BASE_LRS)],
                                  betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
    return OptimWrapper(optimizer)


def _lrs_used(schedulers: list, wrapper: OptimWrapper, steps: int) -> list[list[float]]:
    """The lr of every group at iterations 0..steps-1, stepping as mmengine's runner does
    (optimizer step, then every scheduler)."""
    used = []
    for _ in range(steps):
        used.append([group['lr'] for group in wrapper.optimizer.param_groups])
        wrapper.step()
        for scheduler in schedulers:
            scheduler.step()
    return used


def test_lr_sequence_equals_the_official_poly_warmup_adamw() -> None:
    golden = json.load(open(FIXTURE))['lr_at_step']
    wrapper = _optim_wrapper()
    scheduler = PARAM_SCHEDULERS.build(dict(type='PolyWarmupLR', warmup_iters=50,
                                            warmup_ratio=1e-6, max_iters=30000, power=1.0),
                                       default_args=dict(optimizer=wrapper))
    assert isinstance(scheduler, PolyWarmupLR)
    used = _lrs_used([scheduler], wrapper, 30000)
    assert sorted(int(k) for k in golden) == list(range(61)) + [100, 1000, 29999]
    for step, official in golden.items():
        ours = used[int(step)]
        assert ours == pytest.approx([official[0], official[2]], rel=1e-12, abs=0), step


def test_mmengine_linear_plus_poly_cannot_reproduce_it() -> None:
    """The check behind PolyWarmupLR: the closest mmengine chain differs after the warmup."""
    golden = json.load(open(FIXTURE))['lr_at_step']
    wrapper = _optim_wrapper()
    chain = [LinearLR(wrapper, start_factor=1e-6, end_factor=1.0, begin=0, end=51,
                      by_epoch=False),  # mmengine reaches end_factor at end - 1
             PolyLR(wrapper, eta_min=0.0, power=1.0, begin=50, end=30000, by_epoch=False)]
    used = _lrs_used(chain, wrapper, 30000)
    for step in range(50):  # the warmup agrees
        assert used[step][1] == pytest.approx(golden[str(step)][2], rel=1e-9)
    for step in (50, 100, 1000, 29999):  # the decay does not
        assert abs(used[step][1] / golden[str(step)][2] - 1) > 1e-3


def test_rejects_epoch_based_use() -> None:
    with pytest.raises(ValueError, match='by_epoch'):
        PolyWarmupLR(_optim_wrapper(), by_epoch=True)


@pytest.mark.parametrize('iteration, logged', [(200, 9.934e-05), (2000, 9.334e-05),
                                               (14000, 5.334e-05), (30000, 3.333e-09)])
def test_matches_the_lr_printed_in_the_official_training_log(iteration: int,
                                                              logged: float) -> None:
    """logs/voc_train.log prints group 0's lr after iteration ``iteration`` (1-based)."""
    wrapper = _optim_wrapper()
    scheduler = PolyWarmupLR(wrapper)
    used = _lrs_used([scheduler], wrapper, iteration)
    assert f'{used[iteration - 1][0]:.3e}' == f'{logged:.3e}'


@pytest.mark.parametrize('iteration, logged', [(200, 9.950e-05), (400, 9.960e-05),
                                               (30000, 7.000e-05), (100000, 1.000e-09)])
def test_coco_schedule_matches_the_official_coco_log(iteration: int, logged: float) -> None:
    """logs/coco_train.log (warmup 200, 100,000 iterations): group 0's lr after iteration
    ``iteration``; the warmup still shows at 200. The COCO config's scheduler settings."""
    from mmengine.config import Config
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    (settings,) = Config.fromfile(os.path.join(
        root, 'configs', '_base_', 'schedules', 'excel_poly_warmup_100k.py')).param_scheduler
    options = {k: v for k, v in settings.items() if k != 'type'}
    wrapper = _optim_wrapper()
    scheduler = PolyWarmupLR(wrapper, **options)
    used = _lrs_used([scheduler], wrapper, iteration)
    assert f'{used[iteration - 1][0]:.3e}' == f'{logged:.3e}'
