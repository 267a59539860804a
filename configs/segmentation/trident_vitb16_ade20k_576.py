# Trident on ADE20KDataset (CLIP ViT-B/16 + DINO ViT-B/16 + SAM ViT-B, training-free).
# Published mIoU 21.9
# Source: Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on).
# Remaining deviations: docs/refiners.md (Trident section).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.trident_vitb16 import *

test_dataloader.dataset.pipeline[1].update(short_side=576)
published_metrics = dict(
    mIoU=21.9,
    source='Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on)')
