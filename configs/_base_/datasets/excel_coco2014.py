# ExCEL's MS COCO 2014 data (zwyang6/ExCEL @ 2cd7f51 scripts/train_coco.py, datasets/coco.py):
# VOC-style class-index masks (README "MSCOCO 2014": coco2voc or the authors' download) under
# data/coco2014: JPEGImages/{train2014,val2014}/COCO_*.jpg and
# SegmentationClass/{train2014,val2014}/<image number>.png (COCO2014Dataset, docs/datasets.md).
# The repository's code reads the folders JPEGImages/train and SegmentationClass/train (val)
# while its README shows train2014 / val2014: we follow the README; set data_prefix otherwise.
# Training on train2014 (the repository's train.txt: 82,081 images, those with a mask; without
# a split file COCO2014Dataset lists the images with a mask), image-level tags from the full
# mask (the repository reads them from its cls_labels_onehot.npy), random scaling x U(0.5, 2.0)
# (Pillow bilinear), horizontal flip (p 0.5), a 320 x 320 crop with black padding at a random
# offset (no class-ratio test: CocoClsDataset crops without the label), batch 4.
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.image_tags import ImageTagsFromMask
from ovperception.datasets.segmentation import COCO2014Dataset
from ovperception.datasets.transforms import (LoadImageFromFile, LoadSegAnnotations,
                                              PackOVInputs, RandomCrop, RandomFlip, RandomResize)
from ovperception.evaluation import IoUMetric

data_root = 'data/coco2014'
coco_train_prefix = dict(img_path='JPEGImages/train2014',
                         seg_map_path='SegmentationClass/train2014')
coco_val_prefix = dict(img_path='JPEGImages/val2014', seg_map_path='SegmentationClass/val2014')
train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadSegAnnotations),
    dict(type=ImageTagsFromMask, background_index=0, ignore_index=255),  # before the crop
    dict(type=RandomResize, scale=None, ratio_range=(0.5, 2.0), backend='pillow'),
    dict(type=RandomFlip, prob=0.5),
    dict(type=RandomCrop, crop_size=320, cat_max_ratio=1.0, pad=True),
    dict(type=PackOVInputs),
]
test_pipeline = [dict(type=LoadImageFromFile), dict(type=LoadSegAnnotations),
                 dict(type=PackOVInputs)]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=COCO2014Dataset, data_root=data_root, data_prefix=coco_train_prefix,
                 classnames_file='excel/coco81', pipeline=train_pipeline),
)
# COCO val2014 (the repository's val.txt: 40,137 images, those with a mask) at full size (the
# model resizes to 320)
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=COCO2014Dataset, data_root=data_root, data_prefix=coco_val_prefix,
                 classnames_file='excel/coco81', test_mode=True, pipeline=test_pipeline),
)
# Validation during training on "val_part": the repository's datasets/coco/val_part.txt holds
# the first 5,000 names of its sorted val.txt (not shipped: no licence). indices=5000 takes the
# first 5,000 of COCO2014Dataset's sorted list of the val2014 images with a mask: the same
# images when the masks cover exactly val.txt's 40,137 images; indices=None validates on all.
val_dataloader = dict(test_dataloader, dataset=dict(test_dataloader['dataset'], indices=5000))
val_evaluator = dict(type=IoUMetric, iou_metrics=['mIoU'])
test_evaluator = val_evaluator
