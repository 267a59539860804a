# Pascal Context full (459 classes), detectron2's prepared .tif labels (65535 = ignore).
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.segmentation_full import PascalContext459Dataset
from ovperception.datasets.transforms import (LoadImageFromFile, LoadSegAnnotations, PackOVInputs,
                                              ResizeShortSide)
from ovperception.evaluation import IoUMetric

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=640, max_long_side=2560),
    dict(type=LoadSegAnnotations, ignore_index=65535),
    dict(type=PackOVInputs),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=PascalContext459Dataset, data_root='data/VOCdevkit/VOC2010',
                 ignore_index=65535, test_mode=True, pipeline=test_pipeline),
)
test_evaluator = dict(type=IoUMetric, iou_metrics=['mIoU'], ignore_index=65535)
