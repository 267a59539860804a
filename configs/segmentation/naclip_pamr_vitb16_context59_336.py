# NACLIP + PAMR (10 iterations, dilations (8, 16)), repo default, on
# PascalContext59Dataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 38.35 - source: NACLIP README (repo default, with PAMR).
from mmengine.config import read_base

from ovperception.models.refiners import PAMRRefiner

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context59 import *
    from .._base_.models.naclip_vitb16 import *

model.head.update(logit_scale=40.0)
model.head.update(score_refiner=dict(type=PAMRRefiner, num_iter=10, dilations=(8, 16)))
test_dataloader.dataset.update(classnames_file='sclip/context59')  # the official repository's names
published_metrics = dict(mIoU=38.35, source='NACLIP README (repo default, with PAMR)')
