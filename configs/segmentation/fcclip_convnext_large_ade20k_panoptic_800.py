# FC-CLIP ConvNeXt-L (trained on COCO panoptic) zero-shot panoptic segmentation on ADE20K-150.
#   python tools/test.py configs/segmentation/fcclip_convnext_large_ade20k_panoptic_800.py
#       --weights fcclip_cocopan.pth
# Published PQ 26.8, mask AP 16.8 (mIoU 34.1) - source: FC-CLIP README (ADE20K). Mask AP is
# measured on the thing segments of the panoptic PNGs (CocoMetric, fractions: 0.168 = 16.8).
from mmengine.config import read_base

from ovperception.evaluation import CocoMetric, IoUMetric, PanopticMetric

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ade20k_panoptic import *
    from .._base_.models.fcclip_convnext_large import *

model.test_cfg.update(instance_on=True)
# official eval protocol (detectron2 test resize): short side 800, max 1333
test_dataloader.dataset.pipeline[1].update(short_side=800, max_long_side=1333)
test_evaluator = [dict(type=PanopticMetric), dict(type=IoUMetric, iou_metrics=['mIoU']),
                  dict(type=CocoMetric, metric=['segm', 'bbox'])]
published_metrics = {'PQ': 26.8, 'mIoU': 34.1, 'coco/segm_mAP': 0.168,
                     'source': 'FC-CLIP README (ADE20K)'}
