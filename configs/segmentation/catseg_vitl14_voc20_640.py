# CAT-Seg (L, CLIP ViT-L/14@336px; trained on COCO-Stuff) zero-shot on
# Pascal VOC 20 (no background), semantic mIoU, released protocol (eval.sh: sliding window, pooling 1x1).
#   python tools/test.py configs/segmentation/catseg_vitl14_voc20_640.py \
#       --weights model_large.pth
# Published mIoU 97.0 - source: CAT-Seg README (cvlab-kaist/CAT-Seg @ 6d3a188, PAS-20).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc20 import *
    from .._base_.models.catseg_vitl import *

# released test resize (detectron2): short side 640, long side at most 2560
test_dataloader.dataset.pipeline[1].update(short_side=640, max_long_side=2560)
test_dataloader.dataset.update(classnames_file='catseg/voc20')  # the official names
published_metrics = dict(mIoU=97.0, source='CAT-Seg README (PAS-20, CAT-Seg (L))')
