# CAT-Seg (L, CLIP ViT-L/14@336px; trained on COCO-Stuff) zero-shot on
# Pascal Context 459, semantic mIoU, released protocol (eval.sh: sliding window, pooling 1x1).
#   python tools/test.py configs/segmentation/catseg_vitl14_context459_640.py \
#       --weights model_large.pth
# Published mIoU 23.8 - source: CAT-Seg README (cvlab-kaist/CAT-Seg @ 6d3a188, PC-459).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.context459 import *
    from .._base_.models.catseg_vitl import *

# released test resize (detectron2): short side 640, long side at most 2560
test_dataloader.dataset.pipeline[1].update(short_side=640, max_long_side=2560)
test_dataloader.dataset.update(classnames_file='catseg/context459')  # the official names
published_metrics = dict(mIoU=23.8, source='CAT-Seg README (PC-459, CAT-Seg (L))')
