# MaskCLIP on PascalVOCDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 43.4 - source: Trident README table (MaskCLIP re-evaluated under the SCLIP protocol).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc21 import *
    from .._base_.models.maskclip_vitb16 import *

model.head.update(logit_scale=65.0, prob_threshold=0.1, background_index=0, area_threshold=0.1)
test_dataloader.dataset.update(classnames_file='sclip/voc21')  # the official repository's names
published_metrics = dict(mIoU=43.4, source='Trident README table (MaskCLIP re-evaluated under the SCLIP protocol)')
