# CAT-Seg (L) zero-shot on Pascal VOC with background ("PAS-20b"), semantic mIoU, released
# protocol (eval.sh, datasets/voc20b.json, train_net.py VOCbEvaluator): the 20 VOC classes and
# 39 extra words, each a class of the aggregation; every word's prediction counts as background.
#   python tools/test.py configs/segmentation/catseg_vitl14_voc21_640.py --weights model_large.pth
# Published mIoU 82.5 - source: CAT-Seg README (cvlab-kaist/CAT-Seg @ 6d3a188, PAS-20b).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc21 import *
    from .._base_.models.catseg_vitl import *

model.update(synonyms='all')
# released test resize (detectron2): short side 640, long side at most 2560
test_dataloader.dataset.pipeline[1].update(short_side=640, max_long_side=2560)
test_dataloader.dataset.update(classnames_file='catseg/voc20b')  # the official names
published_metrics = dict(mIoU=82.5, source='CAT-Seg README (PAS-20b, CAT-Seg (L))')
