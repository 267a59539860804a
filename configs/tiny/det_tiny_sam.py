# SAM automatic-mask proposals (tiny random SAM) + tiny random CLIP on synthetic shapes.
#     python tools/test.py configs/tiny/det_tiny_sam.py
from mmengine.config import read_base

from ovperception.models.detection import SAMProposals
from ovperception.models.detection import OVDetectionHead
from ovperception.models.refiners import SAMWrapper

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_det import *
    from .._base_.models.tiny_clip_vit import *

model.update(
    head=dict(type=OVDetectionHead,
              proposals=dict(type=SAMProposals, sam=dict(type=SAMWrapper, model_type='tiny'),
                             points_per_side=4, pred_iou_thresh=-10.0,
                             stability_score_thresh=-10.0, min_area=4),
              logit_scale=40.0, background_mode='image', background_top_k=1),
    background_words=['grey striped background', 'sky'])
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_dataloader.dataset.update(num_samples=2)
