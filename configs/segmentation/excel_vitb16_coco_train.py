# Train ExCEL's segmentation network on MS COCO 2014 train from image-level tags
# (zwyang6/ExCEL @ 2cd7f51, run_train.sh with scripts/train_coco.py and its defaults, 1 GPU):
# frozen CLIP ViT-B/16, pseudo-masks from CLIP's dense knowledge (TSE with 224 attribute
# clusters + SVC; LVC and the seg head's affinity in the refinement from iteration 30000,
# box threshold 0.88), the affinity labels always from the pseudo-masks (never from the
# segmenter), seg head on 81 classes trained for 100,000 iterations of batch 4 with the
# PolyWarmupAdamW schedule (warmup 200); validation every 10,000 iterations as the official
# build_validation (image resized to 320 x 320, one scale, no flip) on val_part (the first
# 5,000 val2014 images; see configs/_base_/datasets/excel_coco2014.py).
#   python tools/train.py configs/segmentation/excel_vitb16_coco_train.py
# The official log (logs/coco_train.log, RTX 3090, 9 h 29 min) ends at iteration 100000 with
# seg single-scale mIoU 48.142 on val_part (pseudo-labels 47.958 with its validation
# protocol); evaluate the trained weights with excel_vitb16_coco_val_msc.py (README: 50.3).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_coco2014 import *
    from .._base_.models.excel_coco_text import *
    from .._base_.models.excel_vitb16 import *
    from .._base_.schedules.excel_poly_warmup_100k import *

model.update(
    seg_head=dict(excel_seg_head, num_classes=81), head_classes=excel_coco_head_classes,
    train_cfg=dict(lvc_start_iter=30000, seg_affinity_start_iter=None, affinity_radius=8,
                   affinity_weight=0.1, box_threshold=0.88, ignore_index=255),
    # build_validation: 320 x 320, one scale, no flip
    segmenter_cfg=dict(size=320, scales=(1.0,), flip=False, predict_from='segmenter'),
    **excel_coco_text)
# the official saves a checkpoint at every validation from iteration 40000 on
default_hooks.checkpoint.update(interval=10000)
published_metrics_unverified = (
    'seg single-scale mIoU 48.142 on COCO val_part (5,000 val2014 images) at iteration 100000 '
    '(logs/coco_train.log of zwyang6/ExCEL, one run; not reproduced here)')
