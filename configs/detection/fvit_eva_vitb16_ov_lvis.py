# F-ViT ViT-B/16 on OV-LVIS (wusize/CLIPSelf F-ViT, config
# fvit_vitb16_upsample_fpn_bs64_4x_ovlvis_eva_clipself_patches.py): 866 common + frequent classes
# trained, all 1203 evaluated; the headline is the mask AP of the rare classes (lvis/segm_APr).
#     python tools/convert_checkpoint.py fvit fvit_eva_vitb16_ovlvis_clipself_patches.pth fvit_b16_ovlvis.pth
#     python tools/test.py configs/detection/fvit_eva_vitb16_ov_lvis.py --weights fvit_b16_ovlvis.pth
# As released: images fit into 1024 x 1024 and padded to it, BN in the RPN, a class-agnostic FCN
# mask head, alpha 0.1 / beta 0.6, CLIP logit scale 50, score > 1e-4, NMS 0.5, 300 per image,
# masks at 0.5, each pasted over the whole image (the GPU path that produced the number).
# Released class embeddings: lvis_with_background_evaclip_vitb_16.pt (model.class_embeddings).
from mmengine.config import read_base

from ovperception.datasets.transforms import LoadImageFromFile, ResizeShortSide
from ovperception.datasets.detection_transforms import PackOVDetInputs
from ovperception.models.detection import FViTMaskHead

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.lvis_v1 import *
    from .._base_.models.fvit_eva_vitb16 import *

image_side = 1024
model.update(seen_classnames='fvit/lvis_v1_seen', beta=0.6, vlm_temperature=50.0,
             mask_head=dict(type=FViTMaskHead, in_channels=256, conv_channels=256))
model.rpn_head.update(norm=True)
model.test_cfg.update(score_thr=1e-4, nms_iou=0.5, max_per_img=300, pad_to=image_side)
model.train_cfg.update(background_weight=0.9, match_low_quality=True, pad_to=image_side)
test_pipeline = [dict(type=LoadImageFromFile),
                 dict(type=ResizeShortSide, short_side=image_side, max_long_side=image_side),
                 dict(type=PackOVDetInputs)]
test_dataloader.dataset.update(pipeline=test_pipeline)
published_metrics = {'lvis/segm_APr': 0.253,
                     'source': 'wusize/CLIPSelf F-ViT/README.md, OV-LVIS table, row 7 (ViT-B/16, '
                               'CLIPSelf): mAPr 25.3 (mask AP of the rare classes)'}
