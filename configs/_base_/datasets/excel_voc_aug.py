# ExCEL's VOC data (scripts/train_voc.py, datasets/voc.py): training on train_aug (10,582
# images, SegmentationClassAug, tools/make_voc_aug.py) with image-level tags from the full mask,
# random scaling x U(0.5, 2.0) (Pillow bilinear / nearest), horizontal flip (p 0.5), 320 x 320
# crop with black image / 255 label padding at a random offset and the cat_max_ratio 0.75 test
# (10 tries), batch 4; validation on VOC val (1,449) at full size (the model resizes to 320).
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.segmentation import PascalVOCAugDataset, PascalVOCDataset
from ovperception.datasets.transforms import (LoadImageFromFile, LoadSegAnnotations,
                                              PackOVInputs, RandomCrop, RandomFlip, RandomResize)
from ovperception.evaluation import IoUMetric

data_root = 'data/VOCdevkit/VOC2012'
# the official VOC12ClsDataset augmentation (also used by excel_vitb16_tagged_images_train.py)
excel_augmentation = [
    dict(type=RandomResize, scale=None, ratio_range=(0.5, 2.0), backend='pillow'),
    dict(type=RandomFlip, prob=0.5),
    dict(type=RandomCrop, crop_size=320, cat_max_ratio=0.75, max_tries=10, pad=True),
]
train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadSegAnnotations),
    dict(type='ImageTagsFromMask', background_index=0, ignore_index=255),
    *excel_augmentation,
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
    dataset=dict(type=PascalVOCAugDataset, data_root=data_root, classnames_file='excel/voc21',
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=PascalVOCDataset, data_root=data_root, classnames_file='excel/voc21',
                 test_mode=True, pipeline=test_pipeline),
)
test_dataloader = val_dataloader
# pseudo-mask quality: VOC train (1,464 images), as infer_lam.py --infer_set train
pseudo_mask_dataloader = dict(val_dataloader, dataset=dict(
    val_dataloader['dataset'], ann_file='ImageSets/Segmentation/train.txt'))
val_evaluator = dict(type=IoUMetric, iou_metrics=['mIoU'])
test_evaluator = val_evaluator
