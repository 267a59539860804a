# DeCLIP: fine-tune EVA-02-CLIP ViT-B/16 by decoupled distillation on COCO train2017 images
# (labels unused). Recipe of xiaomoguhz/DeCLIP scripts/dist_DeCLIP_eva_vitb16_coco.sh
# (commit 2c0b3de): mode qq_vfm_distill (content: unscaled qq attention; context: last-block
# queries vs DINOv2-B similarities), loss weights content 1.0 / context 0.1, all 12 blocks
# trainable, 560 px images, grid crops (max_split 6, max_boxes 20) seen by the frozen original
# CLIP at 224 px, batch 16 (4 GPUs x 4), AdamW lr 1e-5, weight decay 0.1, 6 epochs, 1000
# warm-up iterations then cosine decay; the released checkpoint is the student/teacher weight
# ensemble with alpha 0.7 (`--alpha 0.7`; not applied here: use the trained student).
# Differences: images are resized (short side 560) and randomly cropped to 560 instead of the
# official longest-side resize with padding; crops come from the 560 px image, not the
# original; iteration-based (6 epochs of 118287 images at batch 16 = 44358 iterations).
# The result loads into configs/segmentation/declip_eva02_b16_* with --weights
# work_dirs/.../iter_44358.pth (set dense_mode='declip_qq' there for a qq-trained student).
from mmengine.config import read_base
from mmengine.optim import CosineAnnealingLR, LinearLR

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.imagenet_images import *
    from .._base_.datasets.voc20 import *
    from .._base_.models.declip_eva02_b16 import *
    from .._base_.schedules.iter_20k import *

from ovperception.models.distillation import DeCLIPDistiller
from ovperception.models.refiners import DINOEncoder

model.update(type=DeCLIPDistiller,
             vfm=dict(type=DINOEncoder, arch='vit_base_patch14_dinov2', pretrained='lvd142m'),
             trainable_blocks=12, max_split=6, max_boxes=20, crop_size=224, context='qq',
             content_weight=1.0, context_weight=0.1)
model.backbone.update(pretrained='merged2b_s8b_b131k', dense_mode='declip_qq', frozen=False)
train_dataloader.update(batch_size=16)
train_dataloader.dataset.update(img_dir='data/coco/train2017', img_suffix='.jpg')
train_dataloader.dataset.pipeline[1].update(short_side=560)
train_dataloader.dataset.pipeline[2].update(crop_size=(560, 560))
test_dataloader.dataset.pipeline[1].update(short_side=448)
optim_wrapper.update(clip_grad=None)
optim_wrapper.optimizer.update(lr=1e-5, weight_decay=0.1)
param_scheduler = [
    dict(type=LinearLR, start_factor=1e-3, by_epoch=False, begin=0, end=1000),
    dict(type=CosineAnnealingLR, T_max=43358, eta_min=0.0, by_epoch=False, begin=1000,
         end=44358),
]
train_cfg.update(max_iters=44358, val_interval=44358)
val_dataloader = None
val_cfg = None
val_evaluator = None
default_hooks.checkpoint.update(interval=7393)
