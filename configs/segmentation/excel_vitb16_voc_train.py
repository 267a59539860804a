# Train ExCEL's segmentation network on PASCAL VOC 2012 train_aug from image-level tags
# (zwyang6/ExCEL @ 2cd7f51, run_train.sh -> scripts/train_voc.py with its defaults, 1 GPU):
# frozen CLIP ViT-B/16, pseudo-masks from CLIP's dense knowledge (TSE + SVC, LVC from iteration
# 14000), seg head trained on them for 30,000 iterations of batch 4 (spg 4 on 1 GPU) with the
# PolyWarmupAdamW schedule; validation every 2,000 iterations as the official build_validation
# (VOC val, image resized to 320 x 320, single scale, logits at the full label size).
#   python tools/make_voc_aug.py data/VOCdevkit/VOC2012 data/benchmark_RELEASE/dataset
#   python tools/train.py configs/segmentation/excel_vitb16_voc_train.py
# The official log (logs/voc_train.log, RTX 3090, 2 h 04 min) ends at iteration 30000 with
# seg single-scale mIoU 75.613 on VOC val (pseudo-labels 77.067 with its validation protocol);
# evaluate the trained weights with excel_vitb16_voc_val_msc.py (README: 78.4).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_voc_aug import *
    from .._base_.models.excel_vitb16 import *
    from .._base_.schedules.excel_poly_warmup_30k import *

model.update(
    seg_head=excel_seg_head, head_classes='excel/voc21', train_cfg=excel_train_cfg,
    # build_validation: 320 x 320, one scale, no flip
    segmenter_cfg=dict(size=320, scales=(1.0,), flip=False, predict_from='segmenter'))
default_hooks.checkpoint.update(interval=2000)  # the official saves at every validation
published_metrics_unverified = (
    'seg single-scale mIoU 75.613 on VOC val at iteration 30000 (logs/voc_train.log of '
    'zwyang6/ExCEL, one run; not reproduced here)')
