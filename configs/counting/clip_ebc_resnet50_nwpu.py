# CLIP-EBC (CLIP RN50 + blockwise head) on NWPU-Crowd.
# python tools/train.py configs/counting/clip_ebc_resnet50_nwpu.py
# python tools/test.py configs/counting/clip_ebc_resnet50_nwpu.py --weights CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.nwpu_crowd import *
    from .._base_.models.clip_ebc_resnet50 import *
    from .._base_.schedules.count_iter_40k import *

published_metrics = {'val/MAE': 38.6, 'val/RMSE': 90.3, 'server_test/MAE': 75.8,
                     'server_test/RMSE': 367.3, 'source':
                     'val: PwC listing; test (NWPU server): CLIP-EBC README; unverified here'}

# CLIP-EBC's default 'average' bin anchors (configs/reduction_8.json, truncation 4, nwpu)
model.head.update(representatives=[0, 1, 2, 3, 4.21931])
