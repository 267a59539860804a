# CLIP-DINOiser on ADE20KDataset (OpenCLIP ViT-B/16 laion2b_s34b_b88k, convs trained on ImageNet).
# Protocol (CLIP-DINOiser repo): short side 448, slide 448/224, softmax at logit scale 100; no background filter (the paper applies it to VOC and COCO-Object only).
# Published mIoU 20.0 - source: Trident README results table (CLIP-DINOiser, OpenCLIP ViT-B/16 laion2b, trained convs); 8-benchmark avg 40.3.
# Not reproduced here (no weights/data in this environment): unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.clip_dinoiser_vitb16 import *

model.head.update(logit_scale=100.0)
test_dataloader.dataset.pipeline[1].update(short_side=448)
published_metrics = dict(mIoU=20.0, source='Trident README results table (CLIP-DINOiser, OpenCLIP ViT-B/16 laion2b, trained convs); 8-benchmark avg 40.3')
test_dataloader.dataset.update(classnames_file='clip_dinoiser/ade20k')  # the repo's own class names
