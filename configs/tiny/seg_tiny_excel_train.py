# ExCEL trained from image-level tags with a tiny random 12-block CLIP ViT on synthetic shapes:
# the tags come from each image's full label map (ImageTagsFromMask before the crop), the
# segmentation head learns from the online pseudo-masks; LVC + seg_attn start at iteration 10
# and the segmenter's own affinity labels at 20 (official: 14000 and 24000), so both phases
# run. Random towers: a smoke run, not a result.
# python tools/train.py configs/tiny/seg_tiny_excel_train.py
# python tools/test.py configs/tiny/seg_tiny_excel_train.py --weights WORK_DIR/iter_40.pth
from mmengine.config import read_base

from ovperception.datasets.image_tags import ImageTagsFromMask
from ovperception.datasets.transforms import PackOVInputs, RandomCrop, RandomFlip
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import ExCELModel, ExCELSegHead

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_seg import *
    from .._base_.models.tiny_clip_vit import *
    from .._base_.schedules.iter_20k import *

# = data_preprocessor.IMAGENET_MEAN / IMAGENET_STD (values: a dumped config keeps them)
imagenet_mean = (123.675, 116.28, 103.53)
imagenet_std = (58.395, 57.12, 57.375)
model = dict(
    type=ExCELModel,  # ImageNet statistics, as the official normalize_img
    data_preprocessor=dict(type=OVDataPreprocessor, mean=imagenet_mean, std=imagenet_std),
    backbone=dict(model['backbone'], pos_embed_resize='bilinear', grid_remainder='drop',
                  model_kwargs=dict(tiny_clip_kwargs, vision_cfg=dict(
                      tiny_clip_kwargs['vision_cfg'], layers=12))),
    seg_head=dict(type=ExCELSegHead, in_channels=64, num_layers=12, embed_dim=32,
                  num_classes=4, decoder_layers=3, decoder_heads=8, dropout=0.1),
    head_classes=['grey striped background', 'red square', 'green circle', 'blue triangle'],
    input_size=64, background_class='grey striped background',
    excel_background_words=('ground', 'sky'),
    train_cfg=dict(lvc_start_iter=10, seg_affinity_start_iter=20, affinity_radius=2),
    segmenter_cfg=dict(size=64, scales=(1.0, 1.5), flip=True))
train_dataloader.dataset.pipeline = [
    dict(type=ImageTagsFromMask, background_index=0),
    dict(type=RandomCrop, crop_size=(64, 64)),
    dict(type=RandomFlip, prob=0.5),
    dict(type=PackOVInputs),
]
optim_wrapper.optimizer.update(lr=1e-3, weight_decay=1e-2)
param_scheduler[0].update(end=40)
train_cfg.update(max_iters=40, val_interval=40)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=20)
