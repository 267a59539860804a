# Synthetic anomalies (woven surface + pasted textures / scratches, exact masks), 64 px.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.anomaly import LoadAnomalyMask, PackAnomalyInputs, ResizeAnomaly
from ovperception.datasets.synthetic_anomaly import SyntheticAnomalyDataset
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.evaluation import AnomalyMetric

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(64, 64)),
    dict(type=PackAnomalyInputs),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticAnomalyDataset, num_samples=64, image_size=(64, 64),
                 anomaly_ratio=0.5, seed=0, pipeline=test_pipeline),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=SyntheticAnomalyDataset, num_samples=16, image_size=(64, 64),
                 anomaly_ratio=0.5, seed=1000, test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type=AnomalyMetric)
test_evaluator = val_evaluator
