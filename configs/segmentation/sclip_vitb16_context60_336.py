# SCLIP on PascalContext60Dataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 30.4 - source: SCLIP paper (as tabulated by Trident); repo default avg 39.06.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context60 import *
    from .._base_.models.sclip_vitb16 import *

model.head.update(logit_scale=50.0, prob_threshold=0.1, background_index=0)
test_dataloader.dataset.update(classnames_file='sclip/context60')  # the official repository's names
published_metrics = dict(mIoU=30.4, source='SCLIP paper (as tabulated by Trident); repo default avg 39.06')
