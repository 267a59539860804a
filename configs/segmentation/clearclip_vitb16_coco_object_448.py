# ClearCLIP on COCOObjectDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 33.0 - source: ClearCLIP results figure; PC60/Object from DeCLIP figure; VOC21 recalled, unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_object import *
    from .._base_.models.clearclip_vitb16 import *

model.head.update(logit_scale=50.0, prob_threshold=0.4, background_index=0)
test_dataloader.dataset.pipeline[1].update(short_side=448)
test_dataloader.dataset.update(classnames_file='clearclip/coco_object')  # the official repository's names
published_metrics = dict(mIoU=33.0, source='ClearCLIP results figure; PC60/Object from DeCLIP figure; VOC21 recalled, unverified')
