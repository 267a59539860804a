# A trainable 1x1 adapter head on a tiny frozen random CLIP, trained on synthetic shapes.
# python tools/train.py configs/tiny/seg_tiny_adapted.py ; python tools/test.py ... --weights
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *
    from .._base_.schedules.iter_20k import *

from ovperception.models.segmentation import AdaptedSimilarityHead

model.head = dict(type=AdaptedSimilarityHead, in_channels=32, hidden_channels=64,
                  logit_scale=40.0)
optim_wrapper.optimizer.update(lr=3e-3)
param_scheduler[0].update(end=200)
train_cfg.update(max_iters=200, val_interval=100)
default_hooks.logger.update(interval=20)
default_hooks.checkpoint.update(interval=100)
