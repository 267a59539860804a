# MVTec AD test split, all 15 categories; images and masks resized to 240 px (WinCLIP).
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.anomaly import (LoadAnomalyMask, MVTecADDataset, PackAnomalyInputs,
                                           ResizeAnomaly)
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
    dataset=dict(type=MVTecADDataset, data_root='data/mvtec_anomaly_detection', split='test',
                 test_mode=True, pipeline=test_pipeline),
)
test_evaluator = dict(type=AnomalyMetric, gaussian_sigma=0.0, aupro_fpr_limit=0.3)
