# DeCLIP on COCOStuffDataset (EVA-02-CLIP ViT-B/16 DeCLIP release, training-free).
# Protocol: xiaomoguhz/DeCLIP ZSSS branch configs/cfg_coco_stuff164k.py + declip_segmentor.py
# (Resize scale (4096, 448) keep_ratio; crops 336, stride 112; logit scale / threshold as there).
# Published mIoU: not verified. The DeCLIP READMEs (default, ZSSS and DeCLIP_CATSeg branches)
# report no training-free segmentation numbers, and the paper's table (arXiv 2505.04410) was
# not readable through the sources available when this config was written.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_stuff164k import *
    from .._base_.models.declip_eva02_b16 import *

test_dataloader.dataset.pipeline[1].update(short_side=448, max_long_side=4096)
test_dataloader.dataset.update(classnames_file='clearclip/coco_stuff')  # the ZSSS branch's cls_*.txt were not readable here; ClearCLIP's files (its base code), unverified
published_metrics_unverified = 'DeCLIP paper numbers not verified: no official README reports them'
