# AdaCLIP's hybrid prompts on a tiny frozen random CLIP, trained on synthetic anomalies:
#   python tools/train.py configs/tiny/anomaly_tiny_adaclip.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_anomaly import *
    from .._base_.models.tiny_anomaly import *
    from .._base_.schedules.anomalyclip_adam import *

from ovperception.models.anomaly import AdaCLIPHead

model.head = dict(type=AdaCLIPHead, embed_dim=32, visual_width=64, text_width=32,
                  feature_layers=(0, 1), prompt_length=2, prompt_depth=2, k_clusters=4)
optim_wrapper.optimizer.update(lr=1e-2)
train_dataloader.update(batch_size=4)
train_cfg.update(max_iters=40, val_interval=40)
val_cfg = dict(type=ValLoop)
test_evaluator.update(gaussian_sigma=4.0)
val_evaluator = test_evaluator
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=40)
