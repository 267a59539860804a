# Evaluate a trained ExCEL segmentation network on MS COCO 2014 val (val2014 images with a
# mask: the repository's val.txt, 40,137) with the official multi-scale + flip inference
# (zwyang6/ExCEL @ 2cd7f51 tools/infer_seg_coco.py defaults: image resized to 320 x 320 times
# 0.7, 1.0, 1.2, 1.5, every scale -- 1.0 too -- averaged with its flip, the logits averaged at
# int(0.2 H) x int(0.2 W) and resized to the label):
#   python tools/test.py configs/segmentation/excel_vitb16_coco_val_msc.py \
#       --weights work_dirs/excel_vitb16_coco_train/iter_100000.pth
# then DenseCRF on the softmax of those logits resized to the image (infer_seg_coco.sh runs it:
# --crf_post true, and evaluates the CRF predictions; crf_proc: 10 iterations, Gaussian xy 1 /
# weight 3, bilateral xy 67 / rgb 3 / weight 4), as `crf` below (pip install 'ovperception[crf]').
# Published: COCO val mIoU 50.3 (README "Main Results", ViT-B; with this CRF per
# infer_seg_coco.sh), unverified.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_coco2014 import *
    from .._base_.models.excel_coco_text import *
    from .._base_.models.excel_vitb16 import *

model.update(
    seg_head=dict(excel_seg_head, num_classes=81), head_classes=excel_coco_head_classes,
    train_cfg=dict(lvc_start_iter=30000, seg_affinity_start_iter=None, box_threshold=0.88),
    segmenter_cfg=dict(size=320, scales=(0.7, 1.0, 1.2, 1.5), flip=True, base_flip=True,
                       merge_ratio=0.2, predict_from='segmenter',
                       crf=dict(type='DenseCRF', iter_max=10, pos_xy_std=1, pos_w=3,
                                bi_xy_std=67, bi_rgb_std=3, bi_w=4)),
    **excel_coco_text)
# 16 images per test step, so that the CRFs of a step run side by side on the DenseCRF's
# workers (default 'auto': 60 % of the cores, as the official joblib post-processing); every
# image is still inferred on its own: the labels do not depend on the batch or the workers.
test_dataloader = dict(test_dataloader, batch_size=16)
train_dataloader = None
val_dataloader = None
val_evaluator = None
published_metrics = dict(
    mIoU=50.3, source='zwyang6/ExCEL README, Main Results (MS COCO val, ViT-B), evaluated '
                      'after DenseCRF as infer_seg_coco.sh (crf=true) and this config; '
                      'unverified here: no released weights')
