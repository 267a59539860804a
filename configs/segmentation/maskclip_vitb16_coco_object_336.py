# MaskCLIP on COCOObjectDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 20.6 - source: Trident README table (MaskCLIP re-evaluated under the SCLIP protocol).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_object import *
    from .._base_.models.maskclip_vitb16 import *

model.head.update(logit_scale=50.0, prob_threshold=0.1, background_index=0)
test_dataloader.dataset.update(classnames_file='sclip/coco_object')  # the official repository's names
model.update(shared_names=True)  # 'bed' is a background word and a class there
published_metrics = dict(mIoU=20.6, source='Trident README table (MaskCLIP re-evaluated under the SCLIP protocol)')
