# Training-free SCLIP-style segmentation with a tiny random CLIP on synthetic shapes.
# Smoke test of the whole evaluation path: python tools/test.py configs/tiny/seg_tiny.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *

train_dataloader = None
val_dataloader = None
val_evaluator = None
