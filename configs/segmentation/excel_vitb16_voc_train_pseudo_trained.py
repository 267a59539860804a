# Pseudo-masks of a trained ExCEL on PASCAL VOC 2012 train (1,464 images), image-level labels
# from the ground truth, scored by mIoU against the masks -- zwyang6/ExCEL @ 2cd7f51
# tools/infer_lam.py with --training_free false (infer_lam.sh otherwise): LVC features and
# flip (cure_attr_map_flip), the seg head's affinity in the refinement, box threshold 0.79,
# PAR, 320 x 320 input.
#   python tools/test.py configs/segmentation/excel_vitb16_voc_train_pseudo_trained.py \
#       --weights work_dirs/excel_vitb16_voc_train/iter_30000.pth
# Published number: not recorded -- the README reports only the trained segmentation (val 78.4,
# test 78.5), the log's 77.067 is its validation protocol on VOC val, not this one.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_voc_aug import *
    from .._base_.models.excel_vitb16 import *

model.update(
    seg_head=excel_seg_head, head_classes='excel/voc21', train_cfg=excel_train_cfg,
    tags_from_ground_truth=True,
    segmenter_cfg=dict(predict_from='pseudo_masks'))  # LVC + flip, seg_attn (no msc)
test_dataloader = pseudo_mask_dataloader
train_dataloader = None
val_dataloader = None
val_evaluator = None
published_metrics_unverified = (
    'ExCEL pseudo-mask mIoU on VOC train after training: not in the README; the paper table '
    'could not be read here')
