# CAT-Seg (L, CLIP ViT-L/14@336px; trained on COCO-Stuff) zero-shot on
# ADE20K-full (847 classes), semantic mIoU, released protocol (eval.sh: sliding window, pooling 1x1).
#   python tools/test.py configs/segmentation/catseg_vitl14_ade20k_full_640.py \
#       --weights model_large.pth
# Published mIoU 16.0 - source: CAT-Seg README (cvlab-kaist/CAT-Seg @ 6d3a188, A-847).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k_full import *
    from .._base_.models.catseg_vitl import *

# released test resize (detectron2): short side 640, long side at most 2560
test_dataloader.dataset.pipeline[1].update(short_side=640, max_long_side=2560)
# CAT-Seg prompts each class with the first name of datasets/ade847.json; that list
# repeats names ("bag" x3, "pot", "pier" ...), which a vocabulary cannot hold: give
# the 847 names as data/ade/ADE20K_2021_17_01/ade20k_847_classnames.txt (docs/catseg.md).
published_metrics = dict(mIoU=16.0, source='CAT-Seg README (A-847, CAT-Seg (L))')
