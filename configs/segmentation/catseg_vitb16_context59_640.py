# CAT-Seg (B, CLIP ViT-B/16; trained on COCO-Stuff) zero-shot on
# Pascal Context 59, semantic mIoU, released protocol (eval.sh: sliding window, pooling 1x1).
#   python tools/test.py configs/segmentation/catseg_vitb16_context59_640.py \
#       --weights model_base.pth
# Published mIoU 57.5 - source: CAT-Seg README (cvlab-kaist/CAT-Seg @ 6d3a188, PC-59).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context59 import *
    from .._base_.models.catseg_vitb import *

# released test resize (detectron2): short side 640, long side at most 2560
test_dataloader.dataset.pipeline[1].update(short_side=640, max_long_side=2560)
test_dataloader.dataset.update(classnames_file='catseg/context59')  # the official names
published_metrics = dict(mIoU=57.5, source='CAT-Seg README (PC-59, CAT-Seg (B))')
