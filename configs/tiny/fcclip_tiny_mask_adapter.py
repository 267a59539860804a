# The tiny FC-CLIP with a Mask-Adapter (random weights) on synthetic panoptic shapes: inference
# (training: fcclip_tiny_mask_adapter_train.py; released weights load through --weights).
# python tools/test.py configs/tiny/fcclip_tiny_mask_adapter.py
from mmengine.config import read_base

from ovperception.evaluation import IoUMetric, PanopticMetric
from ovperception.models.panoptic import MaskAdapter

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_panoptic import *
    from .._base_.models.tiny_fcclip_convnext import *
    from .._base_.schedules.iter_20k import *

model.update(mask_adapter=dict(type=MaskAdapter, mask_in_chans=16, num_channels=32,
                               num_output_maps=4),
             alpha=0.7, beta=0.9, mask_threshold=0.5,
             seen_classnames=['grey striped background', 'red square', 'green circle',
                              'blue triangle'])
val_evaluator = [dict(type=IoUMetric, iou_metrics=['mIoU']), dict(type=PanopticMetric)]
test_evaluator = val_evaluator
