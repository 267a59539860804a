# CLIP-EBC head on a tiny frozen random CLIP ViT, trained on synthetic red-dot images.
# python tools/train.py configs/tiny/count_tiny_ebc.py ; python tools/test.py ... --weights CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_count import *
    from .._base_.models.tiny_clip_vit import *
    from .._base_.schedules.iter_20k import *

from ovperception.models.counting import BlockwiseCountingHead

model.head = dict(type=BlockwiseCountingHead, in_channels=32, feature_stride=16, block_size=8,
                  bins=[[0], [1], [2, 'inf']], representatives=[0, 1, 2.2], hidden_channels=32)
model.template_set = ['{}']
model.test_cfg = dict(mode='whole', crop_batch_size=4)
optim_wrapper.optimizer.update(lr=5e-3)
param_scheduler[0].update(end=60)
train_cfg.update(max_iters=60, val_interval=30)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=30)
