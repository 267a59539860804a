# Zero-shot counting (PseCo-style point prompts) with a tiny random CLIP ViT and a tiny random
# SAM 2 (Hiera) in place of SAM ViT. python tools/test.py configs/tiny/count_tiny_zeroshot_sam2.py
from mmengine.config import read_base

from ovperception.models.counting import ZeroShotCountingHead
from ovperception.models.refiners import SAM2Wrapper

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_count import *
    from .._base_.models.tiny_clip_vit import *

model.head = dict(type=ZeroShotCountingHead, logit_scale=40.0,
                  sam=dict(type=SAM2Wrapper, config='configs/sam2/sam2_hiera_t.yaml',
                           checkpoint=None, overrides='tiny'),
                  peak_stride=8, peak_threshold=0.0, score_threshold=0.0, max_points=32,
                  min_box_area=2)
model.background_words = ['background']
model.test_cfg = dict(mode='whole', crop_batch_size=4)
train_dataloader = None
val_dataloader = None
val_evaluator = None
