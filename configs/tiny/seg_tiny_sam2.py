# Tiny random CLIP ViT + the SAM refiner on a tiny random SAM 2 (Hiera) instead of SAM ViT:
# smoke test of SAM 2 as a drop-in refiner. python tools/test.py configs/tiny/seg_tiny_sam2.py
# Full size: sam=dict(type=SAM2Wrapper, config='hiera_t' or 'hiera_s', checkpoint='official').
from mmengine.config import read_base

from ovperception.models.refiners import SAM2Wrapper, SAMRefiner

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *

model.head.update(return_logits=True)  # class probabilities rank overlapping SAM masks
model.update(refiners=[dict(type=SAMRefiner,
                            sam=dict(type=SAM2Wrapper, config='configs/sam2/sam2_hiera_t.yaml',
                                     checkpoint=None, overrides='tiny'),
                            min_area=16, iou_threshold=-1.0, num_points=2)])
train_dataloader = None
val_dataloader = None
val_evaluator = None
