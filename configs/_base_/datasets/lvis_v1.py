# LVIS v1 val (1203 categories; rare = novel of OV-LVIS), COCO 2017 images under data/coco.
# Metric: LVISMetric (needs `pip install lvis`): AP, APr, APc, APf at 300 detections per image.
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.detection import LVISDetDataset
from ovperception.datasets.detection_transforms import PackOVDetInputs
from ovperception.datasets.transforms import LoadImageFromFile, ResizeShortSide
from ovperception.evaluation import LVISMetric

data_root = 'data/coco'
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=448, max_long_side=1344),
    dict(type=PackOVDetInputs),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=LVISDetDataset, data_root=data_root,
                 ann_file='annotations/lvis_v1_val.json', data_prefix=dict(img=''),
                 test_mode=True, pipeline=test_pipeline),
)
test_evaluator = dict(type=LVISMetric, ann_file=f'{data_root}/annotations/lvis_v1_val.json',
                      metric=['bbox', 'segm'], max_dets=300)
