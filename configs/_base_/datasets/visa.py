# VisA (split_csv/1cls.csv), all 12 categories, test split; images and masks at 240 px.
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.anomaly import (LoadAnomalyMask, PackAnomalyInputs, ResizeAnomaly,
                                           VisADataset)
from ovperception.datasets.transforms import LoadImageFromFile
from ovperception.evaluation import AnomalyMetric

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(240, 240)),
    dict(type=PackAnomalyInputs),
]
test_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=VisADataset, data_root='data/VisA', split_file='split_csv/1cls.csv',
                 split='test', test_mode=True, pipeline=test_pipeline),
)
test_evaluator = dict(type=AnomalyMetric, gaussian_sigma=0.0, aupro_fpr_limit=0.3)
