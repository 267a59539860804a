# FC-CLIP ConvNeXt-L (trained on COCO panoptic) zero-shot on ADE20K-150, semantic mIoU.
#   python tools/test.py configs/segmentation/fcclip_convnext_large_ade20k_800.py
#       --weights fcclip_cocopan.pth
# Published mIoU 34.1 - source: FC-CLIP README.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.fcclip_convnext_large import *

model.test_cfg.update(panoptic_on=False, instance_on=False)
# official eval protocol (detectron2 test resize): short side 800, max 1333
test_dataloader.dataset.pipeline[1].update(short_side=800, max_long_side=1333)
published_metrics = dict(mIoU=34.1, source='FC-CLIP README (A-150)')
