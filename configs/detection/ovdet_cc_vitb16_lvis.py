# Training-free OV detection (connected components, BIRDet background + POS) on LVIS v1 val,
# 1203 classes; LVISMetric (pip install lvis) reports AP / APr / APc / APf, box and mask.
#     python tools/test.py configs/detection/ovdet_cc_vitb16_lvis.py
# No published_metrics: the reference's LVIS APr numbers (Detic, OWL-ViT, GDINO) are for
# trained detectors, none for this method.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.lvis_v1 import *
    from .._base_.models.ovdet_cc_vitb16 import *

model.head.update(max_per_img=300, top_k_classes=5)
