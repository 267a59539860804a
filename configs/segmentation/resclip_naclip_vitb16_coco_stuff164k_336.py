# ResCLIP on NACLIP, COCOStuffDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 24.7 - source: ResCLIP README results table (figs/main_results_wo.png, row '+ResCLIP(ours)' under NACLIP, ViT-B/16).
# Settings: yvhangyang/ResCLIP configs/cfg_coco_stuff164k.py (commit 0e085f7).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_stuff164k import *
    from .._base_.models.resclip_vitb16 import *

model.backbone.update(sfr_threshold=0.11, rcs_weights=(2.0, 0.4), sfr_weights=(1.8, 0.7))
test_dataloader.dataset.pipeline[1].update(short_side=336)  # the repo resizes COCO-Stuff to 336 too
test_dataloader.dataset.update(classnames_file='sclip/coco_stuff')  # identical to the repo's cls_*.txt
published_metrics = dict(
    mIoU=24.7,
    source="ResCLIP README results table (figs/main_results_wo.png, row '+ResCLIP(ours)' under NACLIP, ViT-B/16)")
