# SCLIP-style segmentation refined by SAM (SAMRefiner), tiny random CLIP and tiny random SAM on
# synthetic shapes: smoke test of the refiner path.
#     python tools/test.py configs/tiny/seg_tiny_sam.py
from mmengine.config import read_base

from ovperception.models.refiners import SAMRefiner, SAMWrapper

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *

model.head.update(return_logits=True)  # class probabilities rank overlapping SAM masks
model.update(refiners=[dict(type=SAMRefiner, sam=dict(type=SAMWrapper, model_type='tiny'),
                            min_area=16, iou_threshold=-1.0, num_points=2)])
train_dataloader = None
val_dataloader = None
val_evaluator = None
