# A tiny F-ViT (frozen random 4-block CLIP ViT -> simple pyramid + FPN -> RPN -> RoI heads)
# trained on synthetic shapes: tests, CI and smoke runs of the F-ViT training path.
#     python tools/train.py configs/tiny/det_tiny_fvit.py
from mmengine.config import read_base

from ovperception.evaluation import CocoMetric
from ovperception.models.detection import FViT, FViTBoxHead, FViTRPNHead, ViTSimplePyramid

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_det import *
    from .._base_.models.tiny_clip_vit import *
    from .._base_.schedules.iter_20k import *

model = dict(
    type=FViT,
    data_preprocessor=model['data_preprocessor'],
    backbone=dict(model['backbone'], dense_mode='maskclip',
                  model_kwargs=dict(tiny_clip_kwargs,
                                    vision_cfg=dict(tiny_clip_kwargs['vision_cfg'], layers=4))),
    out_indices=[0, 1, 2, 3],
    neck=dict(type=ViTSimplePyramid, in_channels=64, out_channels=32),
    # objects of 10-30 px: anchors of 4 strides (16 px at stride 4)
    rpn_head=dict(type=FViTRPNHead, in_channels=32, feat_channels=32, scales=[4],
                  test_cfg=dict(nms_pre=500, max_per_img=100),
                  train_cfg=dict(nms_pre=500, max_per_img=100)),
    box_head=dict(type=FViTBoxHead, in_channels=32, conv_channels=32, num_convs=2, embed_dim=32),
    seen_classnames=None, alpha=0.1, beta=0.1, vlm_temperature=40.0, template_set='single',
    test_cfg=dict(score_thr=0.05, nms_iou=0.5, max_per_img=50),
    train_cfg=dict(num=128),
)
optim_wrapper.optimizer.update(lr=2e-3)
param_scheduler[0].update(end=200)
train_cfg.update(max_iters=200, val_interval=100)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=100)
val_evaluator = dict(type=CocoMetric, metric=['bbox'])
test_evaluator = val_evaluator
