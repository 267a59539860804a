# FC-CLIP ConvNeXt-L (trained on COCO panoptic) zero-shot on Cityscapes, semantic mIoU.
#   python tools/test.py configs/segmentation/fcclip_convnext_large_cityscapes_1024.py
#       --weights fcclip_cocopan.pth
# Published mIoU 56.2 - source: FC-CLIP README (Cityscapes; PQ 44.0 needs panoptic labels).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.cityscapes import *
    from .._base_.models.fcclip_convnext_large import *

model.test_cfg.update(panoptic_on=False, instance_on=False)
# official eval protocol (fcclip_convnext_large_eval_cityscapes.yaml): short side 1024, max 2560
test_dataloader.dataset.pipeline[1].update(short_side=1024, max_long_side=2560)
published_metrics = dict(mIoU=56.2, source='FC-CLIP README (Cityscapes)')
