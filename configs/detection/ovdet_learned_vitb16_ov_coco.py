# OV-COCO: a light FCOS-style proposal head trained on the 48 base classes' boxes (frozen CLIP
# ViT-B/16), regions classified against all 65 names; validation reports novel / base AP50.
#     python tools/train.py configs/detection/ovdet_learned_vitb16_ov_coco.py
# No published_metrics: the reference gives no number for this model (Detic's 27.8 novel AP50
# is a different, fully trained detector).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ov_coco import *
    from .._base_.models.ovdet_learned_vitb16 import *
    from .._base_.schedules.iter_20k import *

default_hooks.checkpoint.update(interval=2000, save_best='coco/bbox_novel_ap50', rule='greater')
