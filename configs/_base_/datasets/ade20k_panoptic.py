# ADE20K panoptic validation (150 classes) in the COCO-panoptic format written by
# detectron2's prepare_ade20k_panoptic_annotations.py; short side 640. Class k = k-th category
# of the JSON in id order, named by classnames/ade20k.txt (the reader checks the count).
from mmengine.dataset import DefaultSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.coco_panoptic import COCOPanopticDataset, LoadPanopticAnnotations
from ovperception.datasets.transforms import LoadImageFromFile, PackOVInputs, ResizeShortSide
from ovperception.evaluation import IoUMetric, PanopticMetric

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=640, max_long_side=2560),
    dict(type=LoadPanopticAnnotations),
    dict(type=PackOVInputs),
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=COCOPanopticDataset, data_root='data/ade/ADEChallengeData2016',
                 ann_file='ade20k_panoptic_val.json',
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='ade20k_panoptic_val'),
                 classnames_file='ade20k', test_mode=True, pipeline=test_pipeline),
)
test_evaluator = [dict(type=PanopticMetric), dict(type=IoUMetric, iou_metrics=['mIoU'])]
