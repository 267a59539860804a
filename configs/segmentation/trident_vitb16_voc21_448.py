# Trident on PascalVOCDataset (CLIP ViT-B/16 + DINO ViT-B/16 + SAM ViT-B, training-free).
# Published mIoU 67.1
# Source: Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on).
# Remaining deviations: docs/refiners.md (Trident section).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc21 import *
    from .._base_.models.trident_vitb16 import *

model.head.update(prob_threshold=0.2, background_index=0)
model.head.sam_refine.update(skip_labels=(0,))  # never prompt SAM with background
test_dataloader.dataset.pipeline[1].update(short_side=448)
published_metrics = dict(
    mIoU=67.1,
    source='Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on)')
