# CLIP-DINOiser convolutions trained on synthetic images with a tiny random CLIP and a tiny
# random DINO teacher (targets computed on the fly; labels unused), validated on synthetic shapes.
# python tools/train.py configs/tiny/seg_tiny_dinoiser_train.py ; tools/test.py ... --weights
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_dinoiser import *
    from .._base_.schedules.iter_20k import *

optim_wrapper.update(paramwise_cfg=dict(custom_keys={'backbone.saliency': dict(lr_mult=10.0)}))
optim_wrapper.optimizer.update(lr=1e-2)
param_scheduler[0].update(end=100)
train_cfg.update(max_iters=100, val_interval=100)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=50)
