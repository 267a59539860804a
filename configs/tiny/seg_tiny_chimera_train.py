# Chimera-Seg trained on the seen classes of the synthetic shapes (class 3, 'blue triangle',
# is unseen: never named, never supervised) and evaluated on all four with mIoU_seen,
# mIoU_unseen and hIoU. Random towers: a smoke run, not a zero-shot result (the test
# tests/models/test_chimera_seg.py shows the transfer to unseen classes).
# python tools/train.py configs/tiny/seg_tiny_chimera_train.py ; tools/test.py ... --weights
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_chimera import *
    from .._base_.schedules.iter_20k import *

from ovperception.datasets.transforms import PackOVInputs, RandomCrop, RandomFlip
from ovperception.datasets.zero_shot import SeenClassesOnly
from ovperception.evaluation import ZeroShotIoUMetric

train_dataloader.dataset.pipeline = [
    dict(type=RandomCrop, crop_size=(64, 64)),
    dict(type=RandomFlip, prob=0.5),
    dict(type=SeenClassesOnly, unseen_classes=[3]),
    dict(type=PackOVInputs),
]
val_evaluator = dict(type=ZeroShotIoUMetric, unseen_classes=[3], iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper.optimizer.update(lr=2e-3, weight_decay=0.0)
param_scheduler[0].update(end=40)
train_cfg.update(max_iters=40, val_interval=40)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=20)
