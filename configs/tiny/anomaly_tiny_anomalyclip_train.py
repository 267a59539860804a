# AnomalyCLIP-style learnable prompts on a tiny frozen random CLIP, trained on synthetic
# anomalies: python tools/train.py configs/tiny/anomaly_tiny_anomalyclip_train.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_anomaly import *
    from .._base_.models.tiny_anomaly import *
    from .._base_.schedules.anomalyclip_adam import *

from ovperception.models.anomaly import AnomalyCLIPHead

model.head = dict(type=AnomalyCLIPHead, n_ctx=4, deep_depth=2, deep_n_ctx=2,
                  feature_layers=(0, 1), dpam_blocks=1, text_width=32)
optim_wrapper.optimizer.update(lr=1e-2)
train_cfg.update(max_iters=40, val_interval=40)
val_cfg = dict(type=ValLoop)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=40)
