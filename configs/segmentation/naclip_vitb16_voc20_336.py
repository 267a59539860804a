# NACLIP on PascalVOC20Dataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 79.7 - source: Trident README table (NACLIP without PAMR).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc20 import *
    from .._base_.models.naclip_vitb16 import *

model.head.update(logit_scale=40.0)
model.test_cfg.update(mode='whole')
test_dataloader.dataset.update(classnames_file='sclip/voc20')  # the official repository's names
published_metrics = dict(mIoU=79.7, source='Trident README table (NACLIP without PAMR)')
