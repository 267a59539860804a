# Evaluate a trained ExCEL segmentation network on PASCAL VOC 2012 val (1,449 images) with the
# official multi-scale + flip inference (zwyang6/ExCEL @ 2cd7f51 tools/infer_seg_voc.py
# defaults: image resized to 320 x 320 times 0.7, 1.0, 1.2, 1.5, with its flip, logits
# averaged at the full label size; no CRF, as infer_seg_voc.sh crf=false):
#   python tools/test.py configs/segmentation/excel_vitb16_voc_val_msc.py \
#       --weights work_dirs/excel_vitb16_voc_train/iter_30000.pth
# (add --cfg-options model.segmenter_cfg.crf.iter_max=10 for the official optional DenseCRF,
# crf_proc's 10, 1/3, 67/3/4; needs pip install 'ovperception[crf]')
# Published: VOC val mIoU 78.4 (README "Main Results", ViT-B); VOC test 78.5 (README, the VOC
# evaluation server -- no test labels, not computable here).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_voc_aug import *
    from .._base_.models.excel_vitb16 import *

model.update(
    seg_head=excel_seg_head, head_classes='excel/voc21', train_cfg=excel_train_cfg,
    segmenter_cfg=dict(size=320, scales=(0.7, 1.0, 1.2, 1.5), flip=True,
                       predict_from='segmenter'))
train_dataloader = None
val_dataloader = None
val_evaluator = None
published_metrics = dict(mIoU=78.4, source='zwyang6/ExCEL README, Main Results (PASCAL VOC '
                                           'val, ViT-B); test 78.5 from the VOC server')
