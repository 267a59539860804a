# PascalVOC20Dataset validation split, training-free protocol: short side 336, labels at full size.
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.segmentation import PascalVOC20Dataset
from ovperception.datasets.transforms import (LoadImageFromFile, LoadSegAnnotations, PackOVInputs,
                                              ResizeShortSide)
from ovperception.evaluation import IoUMetric

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=336, max_long_side=2048),
    dict(type=LoadSegAnnotations),
    dict(type=PackOVInputs),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=PascalVOC20Dataset, data_root='data/VOCdevkit/VOC2012', test_mode=True, pipeline=test_pipeline),
)
test_evaluator = dict(type=IoUMetric, iou_metrics=['mIoU'])
