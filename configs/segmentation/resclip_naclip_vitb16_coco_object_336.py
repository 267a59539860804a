# ResCLIP on NACLIP, COCOObjectDataset (CLIP ViT-B/16 OpenAI, training-free).
# Published mIoU 35.0 - source: ResCLIP README results table (figs/main_results_w.png, row '+ResCLIP(ours)' under NACLIP, ViT-B/16).
# Settings: yvhangyang/ResCLIP configs/cfg_coco_object.py (commit 0e085f7).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_object import *
    from .._base_.models.resclip_vitb16 import *

model.backbone.update(sfr_threshold=0.11, rcs_weights=(2.0, 0.4), sfr_weights=(1.8, 0.7))
model.head.update(prob_threshold=0.1, background_index=0)
test_dataloader.dataset.update(classnames_file='sclip/coco_object')  # identical to the repo's cls_*.txt
model.update(shared_names=True)  # 'bed' is a background word and a class there
published_metrics = dict(
    mIoU=35.0,
    source="ResCLIP README results table (figs/main_results_w.png, row '+ResCLIP(ours)' under NACLIP, ViT-B/16)")
