# CASS on COCOStuff164kDataset (CLIP ViT-B/16 OpenAI + DINO ViT-B/8, training-free).
# Published mIoU 26.7 - source: arXiv 2511.16170 (SC-CLIP) Table 1, which lists CASS with ViT-B/16, as transcribed in a papernotes summary; not verified - the MICV-yonsei/CASS README shows its results table as an image only.
# Settings: MICV-yonsei/CASS configs/cfg_coco_stuff164k.py (commit 228ecdd): short side 336, slide 224 / 112, prob_thd 0.0, global_semantics_weight 0.2,
# mean_vector_weight 0.02, h_threshold 0.02.
# Class names: configs/cls_*.txt of the release, identical to SCLIP's (classnames/sclip).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_stuff164k import *
    from .._base_.models.cass_vitb16 import *

model.head.update(global_weight=0.2, mean_vector_weight=0.02, cluster_threshold=0.02)
test_dataloader.dataset.pipeline[1].update(short_side=336, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='sclip/coco_stuff')
published_metrics = dict(
    mIoU=26.7,
    source="arXiv 2511.16170 (SC-CLIP) Table 1, which lists CASS with ViT-B/16, as transcribed in a papernotes summary; not verified - the MICV-yonsei/CASS README shows its results table as an image only")
