# CorrCLIP on ADE20KDataset (MetaCLIP ViT-B/16 + DINO ViT-B/8, pre-generated SAM 2 region masks, training-free).
# Protocol (zdk258/CorrCLIP CorrCLIPv1/configs/cfg_ade20k.py, commit 103bc18): short side 448, slide 336/112, logit scale 40, region masks data/region_masks/ade.
# Published mIoU 26.9 - source: zdk258/CorrCLIP CorrCLIPv1/README.md results table (commit 103bc18213e6d906e55a21b8491bc7b04cbf106b), ViT-B row SAM2_32 (pre-generated SAM 2 masks); 8-benchmark avg 51.0. With online SAM 2 masks (Hiera-L, 8 points per side; the README's SAM2_8 row, 26.5):
#   set model.backbone.regions = sam2_regions in a config reading this one (configs/segmentation/corrclip_sam2_vitb16_voc21_336.py for VOC21).
# Not reproduced here (no weights/data in this environment): unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.corrclip_vitb16 import *

model.head.update(logit_scale=40.0, prob_threshold=0.0)
model.backbone.regions.update(directory='data/region_masks/ade')
test_dataloader.dataset.pipeline[1].update(short_side=448, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='corrclip/ade20k')  # the repo's own class names
published_metrics = dict(mIoU=26.9, source='zdk258/CorrCLIP CorrCLIPv1/README.md results table (commit 103bc18213e6d906e55a21b8491bc7b04cbf106b), ViT-B row SAM2_32 (pre-generated SAM 2 masks); 8-benchmark avg 51.0')
