# Training-free WinCLIP-style scoring with a tiny random CLIP on synthetic anomalies.
# Smoke test of the whole anomaly evaluation path:
#   python tools/test.py configs/tiny/anomaly_tiny_winclip.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_anomaly import *
    from .._base_.models.tiny_anomaly import *

train_dataloader = None
val_dataloader = None
val_evaluator = None
