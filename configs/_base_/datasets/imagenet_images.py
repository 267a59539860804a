# ImageNet-style image folder (labels unused) for CLIP-DINOiser training: short side 448,
# random 448 crops and flips (paper: ImageNet train, 448 crops). Any folder of images works:
# set train_dataloader.dataset.img_dir / img_suffix.
from mmengine.dataset import InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.segmentation import FolderSegDataset
from ovperception.datasets.transforms import (LoadImageFromFile, PackOVInputs, RandomCrop,
                                              RandomFlip, ResizeShortSide)

image_train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=ResizeShortSide, short_side=448, max_long_side=4096),
    dict(type=RandomCrop, crop_size=(448, 448)),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackOVInputs),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=FolderSegDataset, img_dir='data/imagenet/train', seg_dir=None,
                 img_suffix='.JPEG', classnames=['object'], pipeline=image_train_pipeline),
)
