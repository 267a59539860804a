"""Learning-rate schedules that mmengine's chained schedulers cannot express exactly."""
from __future__ import annotations

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, OptimizerType, _ParamScheduler

from ovperception.registry import PARAM_SCHEDULERS


def poly_warmup_factor(step: int, warmup_iters: int, warmup_ratio: float, max_iters: int,
                       power: float) -> float:
    """Multiplier of the base lr at ``step`` (0-based iteration) of WeCLIP / ExCEL's
    ``PolyWarmupAdamW``: ``1 - (1 - t / warmup) * (1 - ratio)`` for ``t < warmup`` (linear
    from ``ratio`` to 1, no poly factor), then ``(1 - t / max_iters) ** power`` (t counted
    from 0, not from the end of the warmup) until ``max_iters``; afterwards the last value
    (the official optimizer stops updating it)."""
    if step < warmup_iters:
        return 1.0 - (1.0 - step / warmup_iters) * (1.0 - warmup_ratio)
    step = min(step, max_iters - 1)
    return (1.0 - step / max_iters) ** power


@PARAM_SCHEDULERS.register_module()
class PolyWarmupLR(LRSchedulerMixin, _ParamScheduler):
    """The closed-form lr of ``PolyWarmupAdamW`` (zwyang6/ExCEL ``utils/optimizer.py``) for an
    mmengine runner: at iteration ``t`` every parameter group's lr is its initial lr times
    :func:`poly_warmup_factor`.

    mmengine's ``LinearLR`` + ``PolyLR`` cannot give these values: ``PolyLR`` starting at
    the end of the warmup decays over ``max_iters - warmup_iters`` from the full lr, and one
    starting at 0 multiplies the warmup by the poly factor.

    In a config give ``by_epoch=False`` (and ``end``) explicitly: mmengine's runner reads
    ``by_epoch`` from the config dict (default True) to choose the default ``end``.

    Args:
        optimizer: the wrapped optimizer.
        warmup_iters: iterations of linear warmup (official 50).
        warmup_ratio: lr multiplier at iteration 0 (official ``warmup_lr`` 1e-6).
        max_iters: iterations of the poly decay (official 30000).
        power: poly exponent (official 1).
        begin, end: the range of steps it acts on (mmengine's meaning).
        last_step: the step to resume from (-1: start).
        by_epoch: must be False (iteration-based, as the official one).
        verbose: print the value at each update.
    """

    def __init__(self, optimizer: OptimizerType, warmup_iters: int = 50,
                 warmup_ratio: float = 1e-6, max_iters: int = 30000, power: float = 1.0,
                 begin: int = 0, end: int = INF, last_step: int = -1, by_epoch: bool = False,
                 verbose: bool = False) -> None:
        if by_epoch:
            raise ValueError('PolyWarmupLR counts iterations: set by_epoch=False')
        if not 0 < max_iters or warmup_iters < 0 or not 0 <= warmup_ratio <= 1:
            raise ValueError(f'need max_iters > 0, warmup_iters >= 0 and 0 <= warmup_ratio <= 1, '
                             f'got {max_iters}, {warmup_iters}, {warmup_ratio}')
        self.warmup_iters, self.warmup_ratio = int(warmup_iters), float(warmup_ratio)
        self.max_iters, self.power = int(max_iters), float(power)
        super().__init__(optimizer, begin=begin, end=end, last_step=last_step,
                         by_epoch=by_epoch, verbose=verbose)

    def _get_value(self) -> list[float]:
        """The lr of every group at ``self.last_step``."""
        factor = poly_warmup_factor(self.last_step, self.warmup_iters, self.warmup_ratio,
                                    self.max_iters, self.power)
        return [base * factor for base in self.base_values]
