# DeCLIP's decoupled distillation on synthetic images with tiny random towers (labels unused),
# validated on synthetic shapes with the distilled declip_qq features.
# python tools/train.py configs/tiny/seg_tiny_declip_train.py ; tools/test.py ... --weights
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_declip import *
    from .._base_.schedules.iter_20k import *

optim_wrapper.optimizer.update(lr=1e-3, weight_decay=0.1)
param_scheduler[0].update(end=40)
train_cfg.update(max_iters=40, val_interval=40)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=20)
