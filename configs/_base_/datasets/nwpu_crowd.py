# NWPU-Crowd (3109 train / 500 val; test labels are private: test_dataloader evaluates val, test
# numbers come from the NWPU server).
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.counting import NWPUCrowdDataset
from ovperception.datasets.counting_transforms import (LoadPointAnnotations, PackCountingInputs,
                                                       PointsLimitSize, PointsRandomCrop,
                                                       PointsRandomFlip, PointsRandomResize)
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.evaluation import CountingMetric

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPointAnnotations, require=True),
    dict(type=PointsLimitSize, max_long_side=2048),
    dict(type=PointsRandomResize, scale=(2048, 448), ratio_range=(0.8, 1.5)),
    dict(type=PointsRandomCrop, crop_size=(448, 448)),
    dict(type=PointsRandomFlip, prob=0.5),
    dict(type=PackCountingInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadPointAnnotations),
    dict(type=PointsLimitSize, max_long_side=2048),
    dict(type=PackCountingInputs),
]
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=NWPUCrowdDataset, data_root='data/NWPU-Crowd', split='train',
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=NWPUCrowdDataset, data_root='data/NWPU-Crowd', split='val',
                 test_mode=True, pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=NWPUCrowdDataset, data_root='data/NWPU-Crowd', split='val',
                 test_mode=True, pipeline=test_pipeline),
)
val_evaluator = dict(type=CountingMetric, metrics=['MAE', 'RMSE'], prefix='val')
test_evaluator = dict(type=CountingMetric, metrics=['MAE', 'RMSE'], prefix='val')
