# Training pipeline of the inductive zero-shot segmentation splits: 512 crops of images resized
# with a random ratio in [0.5, 2] of (2048, 512), flips, unseen classes dropped (set
# train_pipeline's SeenClassesOnly.unseen_classes in the leaf config).
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
