# Generated shapes with exact boxes and masks (3 object classes): tests, CI, smoke runs.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.detection_transforms import DetRandomFlip, PackOVDetInputs
from ovperception.datasets.synthetic_detection import SyntheticDetDataset
from ovperception.evaluation import CocoMetric

train_pipeline = [dict(type=DetRandomFlip, prob=0.5), dict(type=PackOVDetInputs)]
test_pipeline = [dict(type=PackOVDetInputs)]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticDetDataset, num_samples=64, image_size=(64, 96), num_classes=3,
                 seed=0, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticDetDataset, num_samples=8, image_size=(64, 96), num_classes=3,
                 seed=1000, test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type=CocoMetric, metric=['bbox', 'segm'])
test_evaluator = val_evaluator
