# ProxyCLIP on PascalContext60Dataset (CLIP ViT-B/16 OpenAI + DINO ViT-B/8 proxy, training-free).
# Protocol (ProxyCLIP repo): short side 336, slide 336/112, logit scale 40, background probability threshold 0.15.
# Published mIoU 35.3 - source: Trident README results table (ProxyCLIP, DINO ViT-B/8 proxy, CLIP ViT-B/16); 8-benchmark avg 42.3.
# Not reproduced here (no weights/data in this environment): unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context60 import *
    from .._base_.models.proxyclip_vitb16 import *

model.head.update(logit_scale=40.0, prob_threshold=0.15, background_index=0)
published_metrics = dict(mIoU=35.3, source='Trident README results table (ProxyCLIP, DINO ViT-B/8 proxy, CLIP ViT-B/16); 8-benchmark avg 42.3')
test_dataloader.dataset.update(classnames_file='proxyclip/context60')  # the repo's own class names
