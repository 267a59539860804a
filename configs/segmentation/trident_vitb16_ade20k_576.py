# Trident on ADE20KDataset (CLIP ViT-B/16 + DINO ViT-B/16 + SAM ViT-B, training-free).
# Published mIoU 21.9
# Source: Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on).
# Remaining deviations: docs/refiners.md (Trident section).
from mmengine.config import read_base

from ovperception.datasets.transforms import ResizeToPatchMultiple

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.trident_vitb16 import *

test_dataloader.dataset.pipeline[1].update(short_side=576)
# CLIP input resized to multiples of 16, at least the window (the repo's preprocess_image):
test_dataloader.dataset.pipeline.insert(2, dict(type=ResizeToPatchMultiple, multiple=16, min_size=336))
# The repo's per-dataset settings (configs/cfg_*.py of YuHengsss/Trident):
model.head.sam_refine.update(coarse_threshold=0.05)
model.head.update(refine_negative=False)
test_dataloader.dataset.update(classnames_file='trident/ade20k')  # the repo's own class names
published_metrics = dict(
    mIoU=21.9,
    source='Trident README results figure (ViT-B/16 + DINO-B/16 + SAM-B, SAM refinement on)')
