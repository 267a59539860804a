# CorrCLIP with a tiny random CLIP ViT, DINO ViT (patch 8) and SAM 2 region generator on
# synthetic shapes: smoke test of the evaluation path. python tools/test.py configs/tiny/seg_tiny_corrclip.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_corrclip import *

train_dataloader = None
val_dataloader = None
val_evaluator = None
