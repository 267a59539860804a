# CLIP-EBC (frozen CLIP ViT-B/16 + blockwise head) on ShanghaiTech part B.
# python tools/train.py configs/counting/clip_ebc_vitb16_shb.py
# python tools/test.py configs/counting/clip_ebc_vitb16_shb.py --weights CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.shanghaitech_b import *
    from .._base_.models.clip_ebc_vitb16 import *
    from .._base_.schedules.count_iter_40k import *

published_metrics = {'test/MAE': 6.3, 'source':
                     ('CLIP-EBC arXiv v1 abstract (CLIP backbone not stated there, RMSE not '
                      'reported); unverified here')}

# CLIP-EBC's default 'average' bin anchors (configs/reduction_8.json, truncation 4, shb)
model.head.update(representatives=[0, 1, 2, 3, 4.41009])
