# A light FCOS-style proposal head trained on synthetic boxes over a tiny frozen random CLIP.
#     python tools/train.py configs/tiny/det_tiny_learned.py
from mmengine.config import read_base

from ovperception.evaluation import CocoMetric
from ovperception.models.detection import LearnedProposals
from ovperception.models.detection import OVDetectionHead

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_det import *
    from .._base_.models.tiny_clip_vit import *
    from .._base_.schedules.iter_20k import *

model.update(
    head=dict(type=OVDetectionHead,
              proposals=dict(type=LearnedProposals, in_channels=32, hidden_channels=32,
                             distance_scale=16.0),
              logit_scale=40.0, background_mode='image', background_top_k=1,
              analysis_stride=4, pooling='roi'),
    background_words=['grey striped background', 'sky'])
optim_wrapper.optimizer.update(lr=3e-3)
param_scheduler[0].update(end=200)
train_cfg.update(max_iters=200, val_interval=100)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=100)
val_evaluator = dict(type=CocoMetric, metric=['bbox'])  # learned proposals carry no masks
test_evaluator = val_evaluator
