# Talk2DINO with a tiny random CLIP text tower, DINOv2 (registers, patch 14) and projection on
# synthetic shapes: smoke test of the evaluation path. python tools/test.py configs/tiny/seg_tiny_talk2dino.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_talk2dino import *

train_dataloader = None
val_dataloader = None
val_evaluator = None
