# FC-CLIP ConvNeXt-L training on COCO panoptic (FC-CLIP recipe: batch 16 = 8 GPUs x 2,
# AdamW lr 1e-4 wd 0.05, poly decay, 368,750 iterations, 1024 LSJ crops, AMP, clipping).
#   bash tools/dist_train.sh configs/segmentation/fcclip_convnext_large_coco_panoptic_train.py 8
# Published COCO val (FC-CLIP README): PQ 54.4, mask AP 44.6, mIoU 63.7 (CocoMetric reports
# mask AP as a fraction, on the thing segments of the panoptic PNGs: 0.446 = 44.6).
from mmengine.config import read_base
from mmengine.optim import AmpOptimWrapper, PolyLR
from torch.optim import AdamW

from ovperception.evaluation import CocoMetric, IoUMetric, PanopticMetric

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_panoptic import *
    from .._base_.models.fcclip_convnext_large import *
    from .._base_.schedules.iter_20k import *

optim_wrapper = dict(type=AmpOptimWrapper, loss_scale='dynamic',
                     optimizer=dict(type=AdamW, lr=1e-4, weight_decay=0.05),
                     clip_grad=dict(max_norm=0.01, norm_type=2))
param_scheduler = [dict(type=PolyLR, eta_min=0.0, power=0.9, begin=0, end=368750,
                        by_epoch=False)]
train_cfg.update(max_iters=368750, val_interval=50000)
default_hooks.checkpoint.update(interval=5000, max_keep_ckpts=3)
auto_scale_lr = dict(enable=False, base_batch_size=16)
model.test_cfg.update(instance_on=True)
val_evaluator = [dict(type=PanopticMetric), dict(type=IoUMetric, iou_metrics=['mIoU']),
                 dict(type=CocoMetric, metric=['segm', 'bbox'])]
test_evaluator = val_evaluator
published_metrics = {'PQ': 54.4, 'mIoU': 63.7, 'coco/segm_mAP': 0.446,
                     'source': 'FC-CLIP README (COCO val)'}
