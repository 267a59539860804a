# Training-free OV detection with SAM ViT-B automatic masks as proposals on OV-COCO val2017
# (65 classes), masks pooled on dense NACLIP features, BIRDet background modelling + POS.
#     python tools/test.py configs/detection/ovdet_sam_vitb16_ov_coco.py
# No published_metrics: no reference number exists for this method on OV-COCO.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ov_coco import *
    from .._base_.models.ovdet_sam_vitb16 import *

train_dataloader = None
val_dataloader = None
val_evaluator = None
test_evaluator.update(metric=['bbox', 'segm'])
