# Train AnomalyCLIP's prompts on the VisA test split (images + masks), as the paper does
# for cross-dataset zero-shot evaluation; evaluate the checkpoint on the other dataset:
#   python tools/train.py configs/anomaly/anomalyclip_vitl14_336_visa_train.py
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.visa import *
    from .._base_.models.anomalyclip_vitl14_336 import *
    from .._base_.schedules.anomalyclip_adam import *

from mmengine.dataset import InfiniteSampler

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(518, 518)),
    dict(type=PackAnomalyInputs),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=VisADataset, data_root=test_dataloader.dataset.data_root, split='test',
                 pipeline=train_pipeline),
)
test_dataloader.dataset.update(pipeline=train_pipeline)
# Metrics as AnomalyCLIP's test.py / metrics.py: maps smoothed with sigma 4, the 200-step
# thresholded AUPRO (cal_pro_score), image score = the class token's text probability.
test_evaluator.update(gaussian_sigma=4.0, aupro_variant='thresholded')
default_hooks.checkpoint.update(interval=1000)
