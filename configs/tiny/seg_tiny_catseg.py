# CAT-Seg (released architecture at tiny sizes) trained on synthetic shapes.
# python tools/train.py configs/tiny/seg_tiny_catseg.py ; python tools/test.py ... --weights
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_catseg import *
    from .._base_.schedules.iter_20k import *

optim_wrapper.update(
    optimizer=dict(lr=2e-3, weight_decay=1e-4),
    # the CLIP q/v projections train at the full rate here (released: 0.01 x, SOLVER.CLIP_MULTIPLIER;
    # on a random tiny CLIP the cost volume carries little until they adapt)
)
param_scheduler[0].update(end=200)
train_cfg.update(max_iters=200, val_interval=100)
default_hooks.logger.update(interval=20)
default_hooks.checkpoint.update(interval=100)
