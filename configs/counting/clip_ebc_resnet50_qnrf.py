# CLIP-EBC (CLIP RN50 + blockwise head) on UCF-QNRF.
# python tools/train.py configs/counting/clip_ebc_resnet50_qnrf.py
# python tools/test.py configs/counting/clip_ebc_resnet50_qnrf.py --weights CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ucf_qnrf import *
    from .._base_.models.clip_ebc_resnet50 import *
    from .._base_.schedules.count_iter_40k import *

published_metrics = {'source': 'no UCF-QNRF number in our reference; see the CLIP-EBC '
                                'paper'}

# CLIP-EBC's default 'average' bin anchors (configs/reduction_8.json, truncation 4, qnrf)
model.head.update(representatives=[0, 1, 2, 3, 4.21937])
