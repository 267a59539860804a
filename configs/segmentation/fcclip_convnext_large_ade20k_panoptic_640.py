# FC-CLIP ConvNeXt-L (trained on COCO panoptic) zero-shot panoptic segmentation on ADE20K-150.
#   python tools/test.py configs/segmentation/fcclip_convnext_large_ade20k_panoptic_640.py
#       --weights fcclip_cocopan.pth
# Published PQ 26.8 (mIoU 34.1) - source: FC-CLIP README (ADE20K).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k_panoptic import *
    from .._base_.models.fcclip_convnext_large import *

published_metrics = dict(PQ=26.8, mIoU=34.1, source='FC-CLIP README (ADE20K)')
