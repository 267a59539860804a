# SC-CLIP on PascalContext60Dataset (CLIP ViT-B/16 OpenAI, training-free, no extra backbone).
# Published mIoU 36.8 - source: arXiv 2511.16170 Table 1 (as transcribed in a secondary summary); not verified against the SC-CLIP paper (arXiv 2411.15869) - the SuleBai/SC-CLIP README has no results table.
# Settings: SuleBai/SC-CLIP configs/cfg_context60.py (commit 0417ba9).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context60 import *
    from .._base_.models.scclip_vitb16 import *

model.head.update(logit_scale=40.0, prob_threshold=0.15, background_index=0)
test_dataloader.dataset.update(classnames_file='sclip/context60')  # identical to the repo's cls_*.txt
published_metrics = dict(
    mIoU=36.8,
    source='arXiv 2511.16170 Table 1 (as transcribed in a secondary summary); not verified against the SC-CLIP paper (arXiv 2411.15869) - the SuleBai/SC-CLIP README has no results table')
