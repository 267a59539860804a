# Training-free OV detection (connected components) with a tiny random CLIP on synthetic shapes:
# smoke test of the whole detection path.  python tools/test.py configs/tiny/det_tiny.py
from mmengine.config import read_base

from ovperception.models.detection import ConnectedComponentProposals
from ovperception.models.detection import OVDetectionHead

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_det import *
    from .._base_.models.tiny_clip_vit import *

model.update(
    head=dict(type=OVDetectionHead, proposals=dict(type=ConnectedComponentProposals, min_area=2),
              logit_scale=40.0, background_mode='image', background_top_k=1, analysis_stride=4),
    background_words=['grey striped background', 'sky'])
train_dataloader = None
val_dataloader = None
val_evaluator = None
