# ProxyCLIP on CityscapesDataset (CLIP ViT-B/16 OpenAI + DINO ViT-B/8 proxy, training-free).
# Protocol (ProxyCLIP repo): short side 448, slide 224/112, logit scale 40.
# Published mIoU 38.1 - source: Trident README results table (ProxyCLIP, DINO ViT-B/8 proxy, CLIP ViT-B/16); 8-benchmark avg 42.3.
# Not reproduced here (no weights/data in this environment): unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.cityscapes import *
    from .._base_.models.proxyclip_vitb16 import *

model.head.update(logit_scale=40.0)
model.test_cfg.update(crop_size=224, stride=112)
test_dataloader.dataset.pipeline[1].update(short_side=448)
published_metrics = dict(mIoU=38.1, source='Trident README results table (ProxyCLIP, DINO ViT-B/8 proxy, CLIP ViT-B/16); 8-benchmark avg 42.3')
test_dataloader.dataset.update(classnames_file='proxyclip/cityscapes')  # the repo's own class names
