# F-ViT ViT-B/16 on OV-COCO (wusize/CLIPSelf F-ViT, config
# fvit_vitb16_upsample_fpn_bs64_3e_ovcoco_eva_clipself_proposals.py): frozen CLIPSelf-refined
# EVA-02-CLIP, 48 base classes trained, all 65 evaluated (novel AP50 the headline).
#     python tools/convert_checkpoint.py fvit fvit_eva_vitb16_ovcoco_clipself_proposals.pth fvit_b16_ovcoco.pth
#     python tools/test.py configs/detection/fvit_eva_vitb16_ov_coco.py --weights fvit_b16_ovcoco.pth
# As released: images resized to fit 640 x 640 (aspect kept) and padded to 640 x 640, ImageNet
# normalisation, alpha 0.1 / beta 0.8, CLIP logit scale 75, score > 0.01, NMS 0.4, 100 per image.
# Class embeddings: our text encoder (vild14 prompts) by default; the released ones (exactly the
# vectors the published number used) with model.class_embeddings=
# 'F-ViT/datasets/embeddings/coco_with_background_evaclip_vitb_16.pt' from the CLIPSelf repository.
from mmengine.config import read_base

from ovperception.datasets.transforms import LoadImageFromFile, ResizeShortSide
from ovperception.datasets.detection_transforms import PackOVDetInputs

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ov_coco import *
    from .._base_.models.fvit_eva_vitb16 import *
    from .._base_.schedules.iter_20k import *

image_side = 640
test_pipeline = [dict(type=LoadImageFromFile),
                 dict(type=ResizeShortSide, short_side=image_side, max_long_side=image_side),
                 dict(type=PackOVDetInputs)]
train_pipeline = [dict(type=LoadImageFromFile),
                  dict(type=ResizeShortSide, short_side=image_side, max_long_side=image_side),
                  *train_pipeline[2:]]
val_dataloader.dataset.update(pipeline=test_pipeline)
test_dataloader = val_dataloader
train_dataloader.dataset.update(pipeline=train_pipeline)
# the release: AdamW 1e-4, weight decay 0.1, gradient clip 1.0, batch 64, 3 epochs
optim_wrapper.optimizer.update(lr=1e-4, weight_decay=0.1)  # and clip 1.0, as released
default_hooks.checkpoint.update(interval=2000, save_best='coco/bbox_novel_ap50', rule='greater')
published_metrics = {'coco/bbox_novel_ap50': 0.376,
                     'source': 'wusize/CLIPSelf F-ViT/README.md, OV-COCO table, row 2 (ViT-B/16, '
                               'CLIPSelf, proposals +): AP50novel 37.6'}
