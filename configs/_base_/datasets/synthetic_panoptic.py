# Generated shapes with panoptic labels (background = stuff, shapes = things): tests, smoke runs.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.synthetic_panoptic import SyntheticPanopticDataset
from ovperception.datasets.transforms import PackOVInputs, RandomFlip
from ovperception.evaluation import IoUMetric, PanopticMetric

train_pipeline = [dict(type=RandomFlip, prob=0.5), dict(type=PackOVInputs)]
test_pipeline = [dict(type=PackOVInputs)]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticPanopticDataset, num_samples=64, image_size=(64, 64),
                 num_classes=4, seed=0, max_shapes=2, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticPanopticDataset, num_samples=12, image_size=(64, 64),
                 num_classes=4, seed=1000, max_shapes=2, test_mode=True,
                 pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = [dict(type=IoUMetric, iou_metrics=['mIoU']), dict(type=PanopticMetric)]
test_evaluator = val_evaluator
