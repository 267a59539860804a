# Trident with a tiny random CLIP (patch 16) + tiny random DINO proxy (patch 16) and a tiny
# random SAM on synthetic shapes: smoke test of the whole path (ProxyCLIP windows, features
# spliced, SAM once per image, feature-level aggregation, SAM refinement).
#     python tools/test.py configs/tiny/seg_tiny_trident.py
from mmengine.config import read_base

from ovperception.models.segmentation import TridentHead
from ovperception.models.refiners import SAMWrapper

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_proxyclip import *

model.backbone.proxy.update(arch='vit_small_patch16_224')  # Trident: DINO with patch 16
model.update(head=dict(
    type=TridentHead, logit_scale=40.0, aggregate_on='features',
    sam=dict(type=SAMWrapper, model_type='tiny', checkpoint=None),
    aggregation=dict(grid_stride=16),
    sam_refine=dict(min_area=16, iou_threshold=-1.0, num_points=2)))
train_dataloader = None
val_dataloader = None
val_evaluator = None
