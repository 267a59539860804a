# Your own images (anomalib Folder style), 240 px; set data_root and the folders, e.g.
#   --cfg-options test_dataloader.dataset.data_root=data/my_parts \
#                 test_dataloader.dataset.category=screw
# data_root/good: normal test images; defect: anomalous ones; mask: their masks (optional:
# without masks only image metrics are computed); reference_dir: normal images for the
# WinCLIP+ few-shot memory (optional, kept apart from the test images).
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.anomaly import (FolderAnomalyDataset, LoadAnomalyMask,
                                           PackAnomalyInputs, ResizeAnomaly)
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
    dataset=dict(type=FolderAnomalyDataset, data_root='data/my_parts', normal_dir='good',
                 abnormal_dir='defect', mask_dir='mask', reference_dir=None, category='object',
                 test_mode=True, pipeline=test_pipeline),
)
test_evaluator = dict(type=AnomalyMetric, gaussian_sigma=0.0, aupro_fpr_limit=0.3,
                      aupro_variant='thresholded')
