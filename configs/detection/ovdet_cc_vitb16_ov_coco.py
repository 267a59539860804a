# Training-free OV detection (connected components of the dense NACLIP segmentation, BIRDet
# background modelling + POS) on OV-COCO val2017, 65 classes (48 base + 17 novel).
#     python tools/test.py configs/detection/ovdet_cc_vitb16_ov_coco.py
# No published_metrics: the reference numbers for OV-COCO (Detic 27.8 novel AP50, ...) belong
# to detectors trained on base boxes; none is for this training-free method.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ov_coco import *
    from .._base_.models.ovdet_cc_vitb16 import *

train_dataloader = None
val_dataloader = None
val_evaluator = None
