# OV-COCO (Bansal et al. 48 base / 17 novel): train on base boxes of train2017, evaluate on
# val2017 with all 65 classes in the vocabulary (generalized); metric reports
# coco/bbox_novel_ap50 (headline) and coco/bbox_base_ap50. Images at short side 448.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.detection import OVCOCODataset
from ovperception.datasets.detection_transforms import (DetRandomFlip, LoadDetAnnotations,
                                                         PackOVDetInputs)
from ovperception.datasets.transforms import LoadImageFromFile, ResizeShortSide
from ovperception.evaluation import CocoMetric

data_root = 'data/coco'
train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=448, max_long_side=768),
    dict(type=LoadDetAnnotations),
    dict(type=DetRandomFlip, prob=0.5),
    dict(type=PackOVDetInputs),
]
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=448, max_long_side=1344),
    dict(type=PackOVDetInputs),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=OVCOCODataset, data_root=data_root,
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), split='base', filter_empty=True,
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=OVCOCODataset, data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), split='all', test_mode=True,
                 pipeline=test_pipeline),
)
test_dataloader = val_dataloader
# maxDets (1, 10, 100): COCO's own 100 detections per image, as in the OV-COCO numbers of Detic
# (detectron2's COCOEvaluator) that these configs are compared with (mmdet's default: 1000).
val_evaluator = dict(type=CocoMetric, ann_file=f'{data_root}/annotations/instances_val2017.json',
                     metric='bbox', proposal_nums=(1, 10, 100))
test_evaluator = val_evaluator
