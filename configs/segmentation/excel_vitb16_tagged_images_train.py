# Train ExCEL's segmentation network on your own images that have image-level tags but no
# masks: TaggedImageDataset reads a folder of images and the tags file of
# `tools/annotate.py --tags-from` (CSV "image,tags" or JSON); each crop learns from ExCEL's
# online pseudo-masks of its image's tags. Augmentation and schedule as the official VOC
# training (excel_vitb16_voc_train.py); no validation (no masks). Edit tag_classes (background
# first; every tag must be one of them) and data_root, then
#   python tools/train.py configs/segmentation/excel_vitb16_tagged_images_train.py
# and label new images with the trained head:
#   python tools/annotate.py photos/ --tags-from tags.csv --out labelled/ \
#       --config configs/segmentation/excel_vitb16_tagged_images_train.py --weights iter_30000.pth
# With a few hand-labelled images (masks in the same class order), tools/test.py --weights scores
# the trained head on them (test_dataloader below: val/images + val/masks).
# Text-semantic enrichment needs descriptions of your classes (docs/excel.md); without them the
# plain class prompts are used (descriptions_file=None).
from mmengine.config import read_base

from ovperception.datasets.segmentation import FolderSegDataset
from ovperception.datasets.tagged import TaggedImageDataset
from ovperception.datasets.transforms import LoadImageFromFile, PackOVInputs

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_voc_aug import *
    from .._base_.models.excel_vitb16 import *
    from .._base_.schedules.excel_poly_warmup_30k import *

tag_classes = ['background', 'cat', 'dog', 'person']
data_root = 'data/my_tagged_images'
train_pipeline = [dict(type=LoadImageFromFile), *excel_augmentation, dict(type=PackOVInputs)]
train_dataloader.dataset = dict(type=TaggedImageDataset, data_root=data_root, img_dir='images',
                                tags_file='tags.csv', classnames=tag_classes,
                                pipeline=train_pipeline)
model.update(
    descriptions_file=None, head_classes=tag_classes, train_cfg=excel_train_cfg,
    seg_head=dict(excel_seg_head, num_classes=len(tag_classes)),
    segmenter_cfg=dict(size=320, scales=(0.7, 1.0, 1.2, 1.5), flip=True,
                       predict_from='segmenter'))
train_cfg.update(val_interval=train_cfg['max_iters'] + 1)
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader.dataset = dict(type=FolderSegDataset, data_root=data_root, img_dir='val/images',
                               seg_dir='val/masks', classnames=tag_classes, test_mode=True,
                               pipeline=test_pipeline)
published_metrics_unverified = 'your own data: no published number'
