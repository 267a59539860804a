# Generated red-dot images with exact counts (0-12 per 64x64 image): tests, CI and smoke runs.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.counting_transforms import PackCountingInputs, PointsRandomFlip
from ovperception.datasets.synthetic_counting import SyntheticCountingDataset
from ovperception.evaluation import CountingMetric

train_pipeline = [dict(type=PointsRandomFlip, prob=0.5), dict(type=PackCountingInputs)]
test_pipeline = [dict(type=PackCountingInputs)]
train_dataloader = dict(
    batch_size=8, num_workers=0,
    sampler=dict(type=InfiniteSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticCountingDataset, num_samples=64, image_size=(64, 64),
                 max_count=12, seed=0, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticCountingDataset, num_samples=8, image_size=(64, 64),
                 max_count=12, seed=1000, test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type=CountingMetric, metrics=['MAE', 'RMSE'], prefix='val')
test_evaluator = dict(type=CountingMetric, metrics=['MAE', 'RMSE'], prefix='test')
