# A tiny FC-CLIP (frozen random ConvNeXt CLIP + trainable decoders) on synthetic panoptic shapes.
# python tools/train.py configs/tiny/fcclip_tiny.py ; python tools/test.py ... --weights
from mmengine.config import read_base

from ovperception.evaluation import CocoMetric, IoUMetric, PanopticMetric

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_panoptic import *
    from .._base_.models.tiny_fcclip_convnext import *
    from .._base_.schedules.iter_20k import *

# the training vocabulary (SyntheticPanopticDataset's default names): these classes are "seen"
model.update(seen_classnames=['grey striped background', 'red square', 'green circle',
                              'blue triangle'])
optim_wrapper.optimizer.update(lr=1e-3, weight_decay=0.05)
param_scheduler[0].update(end=200)
train_cfg.update(max_iters=200, val_interval=200)
default_hooks.logger.update(interval=20)
default_hooks.checkpoint.update(interval=100)
# instance predictions too: mask / box AP against the thing segments of the panoptic labels
model.test_cfg.update(instance_on=True)
val_evaluator = [dict(type=IoUMetric, iou_metrics=['mIoU']), dict(type=PanopticMetric),
                 dict(type=CocoMetric, metric=['segm', 'bbox'])]
test_evaluator = val_evaluator
