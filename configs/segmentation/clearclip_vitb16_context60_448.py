# ClearCLIP on PascalContext60Dataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 32.6 - source: ClearCLIP results figure; PC60/Object from DeCLIP figure; VOC21 recalled, unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context60 import *
    from .._base_.models.clearclip_vitb16 import *

model.head.update(logit_scale=50.0, prob_threshold=0.15, background_index=0)
test_dataloader.dataset.pipeline[1].update(short_side=448)
test_dataloader.dataset.update(classnames_file='clearclip/context60')  # the official repository's names
published_metrics = dict(mIoU=32.6, source='ClearCLIP results figure; PC60/Object from DeCLIP figure; VOC21 recalled, unverified')
