# CAT-Seg (B, CLIP ViT-B/16; trained on COCO-Stuff) zero-shot on
# ADE20K-150, semantic mIoU, released protocol (eval.sh: sliding window, pooling 1x1).
#   python tools/test.py configs/segmentation/catseg_vitb16_ade20k_640.py \
#       --weights model_base.pth
# Published mIoU 31.8 - source: CAT-Seg README (cvlab-kaist/CAT-Seg @ 6d3a188, A-150).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k import *
    from .._base_.models.catseg_vitb import *

# released test resize (detectron2): short side 640, long side at most 2560
test_dataloader.dataset.pipeline[1].update(short_side=640, max_long_side=2560)
published_metrics = dict(mIoU=31.8, source='CAT-Seg README (A-150, CAT-Seg (B))')
