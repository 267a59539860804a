# CLIP-EBC (frozen CLIP ViT-B/16 + blockwise head) on NWPU-Crowd.
# python tools/train.py configs/counting/clip_ebc_vitb16_nwpu.py
# python tools/test.py configs/counting/clip_ebc_vitb16_nwpu.py --weights CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.nwpu_crowd import *
    from .._base_.models.clip_ebc_vitb16 import *
    from .._base_.schedules.count_iter_40k import *

# The NWPU test split is scored by the NWPU server; test_dataloader here evaluates val.
published_metrics = {'server_test/MAE': 61.2, 'server_test/RMSE': 278.3, 'source':
                     ('CLIP-EBC README, Jul 2024, ViT-B/16 with VPT (arXiv v3 abstract: '
                      '58.2 / 268.5); unverified here')}

# CLIP-EBC's default 'average' bin anchors (configs/reduction_8.json, truncation 4, nwpu)
model.head.update(representatives=[0, 1, 2, 3, 4.21931])
