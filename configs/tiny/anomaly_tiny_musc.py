# MuSc with a tiny random CLIP (2 blocks, 64 px) on synthetic anomalies: smoke test of the
# set-scoring path (SetTestLoop, mutual scoring, RsCIN):
#   python tools/test.py configs/tiny/anomaly_tiny_musc.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_anomaly import *
    from .._base_.models.musc_vitl14_336 import *

model.backbone.update(model_name='ViT-B-16', pretrained=None, dense_mode='vanilla',
                      model_kwargs=dict(
                          embed_dim=32,
                          vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2,
                                          head_width=32),
                          text_cfg=dict(context_length=77, vocab_size=49408, width=32,
                                        heads=2, layers=2)))
model.update(feature_layers=(0, 1), chunk=4)
train_dataloader = None
val_dataloader = None
val_evaluator = None
