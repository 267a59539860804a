# MaskCLIP on CityscapesDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 24.9 - source: Trident README table (MaskCLIP re-evaluated under the SCLIP protocol).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.cityscapes import *
    from .._base_.models.maskclip_vitb16 import *

model.head.update(logit_scale=40.0)
test_dataloader.dataset.update(classnames_file='sclip/cityscapes')  # the official repository's names
published_metrics = dict(mIoU=24.9, source='Trident README table (MaskCLIP re-evaluated under the SCLIP protocol)')
