# COCO panoptic 2017 (133 classes): large-scale-jitter 1024 crops for training, val2017 at
# short side 800 (long side <= 1333) for testing; labels stay at the original size.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.coco_panoptic import COCOPanopticDataset, LoadPanopticAnnotations
from ovperception.datasets.transforms import (LoadImageFromFile, PackOVInputs, RandomCrop,
                                              RandomFlip, RandomResize, ResizeShortSide)
from ovperception.evaluation import IoUMetric, PanopticMetric

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPanopticAnnotations),
    dict(type=RandomResize, scale=(1024, 1024), ratio_range=(0.1, 2.0)),
    dict(type=RandomCrop, crop_size=(1024, 1024)),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackOVInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=800, max_long_side=1333),
    dict(type=LoadPanopticAnnotations),
    dict(type=PackOVInputs),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=COCOPanopticDataset, data_root='data/coco',
                 ann_file='annotations/panoptic_train2017.json',
                 data_prefix=dict(img_path='train2017',
                                  seg_map_path='annotations/panoptic_train2017'),
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=COCOPanopticDataset, data_root='data/coco',
                 ann_file='annotations/panoptic_val2017.json',
                 data_prefix=dict(img_path='val2017', seg_map_path='annotations/panoptic_val2017'),
                 test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = [dict(type=PanopticMetric), dict(type=IoUMetric, iou_metrics=['mIoU'])]
test_evaluator = val_evaluator
