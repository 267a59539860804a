# Trident on COCOStuffDataset (CLIP ViT-B/16 + DINO ViT-B/16 + SAM ViT-B, training-free).
# Published mIoU 28.3
# Source: Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on).
# Remaining deviations: docs/refiners.md (Trident section).
from mmengine.config import read_base

from ovperception.datasets.transforms import ResizeToPatchMultiple

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_stuff164k import *
    from .._base_.models.trident_vitb16 import *

# CLIP input resized to multiples of 16, at least the window (the repo's preprocess_image):
test_dataloader.dataset.pipeline.insert(2, dict(type=ResizeToPatchMultiple, multiple=16, min_size=336))
# The repo's per-dataset settings (configs/cfg_*.py of YuHengsss/Trident):
model.head.sam_refine.update(coarse_threshold=0.05)
test_dataloader.dataset.update(classnames_file='trident/coco_stuff')  # the repo's own class names
published_metrics = dict(
    mIoU=28.3,
    source='Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on)')
