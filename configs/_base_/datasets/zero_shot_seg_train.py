# Training pipeline of the inductive zero-shot segmentation splits: 512 crops of images resized
# with a random ratio in [0.5, 2] of (2048, 512), flips, unseen classes dropped (set
# train_dataloader.dataset.pipeline[-2].unseen_classes and the dataset in the leaf config).
from mmengine.dataset import InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.transforms import (LoadImageFromFile, LoadSegAnnotations,
                                              PackOVInputs, RandomCrop, RandomFlip,
                                              RandomResize)
from ovperception.datasets.zero_shot import SeenClassesOnly

train_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadSegAnnotations),
    dict(type=RandomResize, scale=(2048, 512), ratio_range=(0.5, 2.0)),
    dict(type=RandomCrop, crop_size=(512, 512), cat_max_ratio=0.75),
    dict(type=RandomFlip, prob=0.5),
    dict(type=SeenClassesOnly, unseen_classes=[]),
    dict(type=PackOVInputs),
]
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
    dataset=dict(pipeline=train_pipeline),  # the leaf config sets type, data_root, split
)
