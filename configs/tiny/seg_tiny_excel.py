# ExCEL pseudo-masks from image-level tags with a tiny random 6-block CLIP ViT on synthetic
# shapes (classes present taken from the ground truth; its background class is the dataset's): smoke test of
# the evaluation path. python tools/test.py configs/tiny/seg_tiny_excel.py
from mmengine.config import read_base

from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import ExCELModel

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *

# = data_preprocessor.IMAGENET_MEAN / IMAGENET_STD (values: a dumped config keeps them)
imagenet_mean = (123.675, 116.28, 103.53)
imagenet_std = (58.395, 57.12, 57.375)
model = dict(
    type=ExCELModel,  # ImageNet statistics, as the official normalize_img
    data_preprocessor=dict(type=OVDataPreprocessor, mean=imagenet_mean, std=imagenet_std),
    backbone=dict(model['backbone'], pos_embed_resize='bilinear', model_kwargs=dict(
        tiny_clip_kwargs, vision_cfg=dict(tiny_clip_kwargs['vision_cfg'], layers=6))),
    input_size=64, tags_from_ground_truth=True,
    background_class='grey striped background', excel_background_words=('ground', 'sky'))
train_dataloader = None
val_dataloader = None
val_evaluator = None
