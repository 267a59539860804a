# ClearCLIP on CityscapesDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 30.0 - source: ClearCLIP results figure; PC60/Object from DeCLIP figure; VOC21 recalled, unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.cityscapes import *
    from .._base_.models.clearclip_vitb16 import *

model.head.update(logit_scale=50.0)
test_dataloader.dataset.pipeline[1].update(short_side=448)
model.test_cfg.update(crop_size=224, stride=224)  # official: slide_crop=224, default stride 224
test_dataloader.dataset.update(classnames_file='clearclip/cityscapes')  # the official repository's names
published_metrics = dict(mIoU=30.0, source='ClearCLIP results figure; PC60/Object from DeCLIP figure; VOC21 recalled, unverified')
