# Tiny random WinCLIP on a folder of your own images (smoke test of the folder dataset):
#   python tools/test.py configs/tiny/anomaly_tiny_winclip_folder.py \
#     --cfg-options test_dataloader.dataset.data_root=DIR
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.anomaly_folder import *
    from .._base_.models.tiny_anomaly import *

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(64, 64)),
    dict(type=PackAnomalyInputs),
]
test_dataloader.dataset.update(pipeline=test_pipeline)
train_dataloader = None
val_dataloader = None
val_evaluator = None
