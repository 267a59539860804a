# Generated shapes with exact labels (4 classes incl. background): tests, CI, smoke runs.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.synthetic import SyntheticSegDataset
from ovperception.datasets.transforms import PackOVInputs, RandomCrop, RandomFlip
from ovperception.evaluation import IoUMetric

train_pipeline = [
    dict(type=RandomCrop, crop_size=(64, 64)),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackOVInputs),
]
test_pipeline = [dict(type=PackOVInputs)]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticSegDataset, num_samples=64, image_size=(64, 96), num_classes=4,
                 seed=0, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticSegDataset, num_samples=8, image_size=(64, 96), num_classes=4,
                 seed=1000, test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type=IoUMetric, iou_metrics=['mIoU'])
test_evaluator = val_evaluator
