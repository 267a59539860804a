# F-ViT ViT-L/14-336 on OV-LVIS (wusize/CLIPSelf F-ViT, config
# fvit_vitl14_upsample_fpn_bs64_4x_ovlvis_eva_clipself_patches.py): as the ViT-B/16 OV-LVIS config,
# with blocks 6/10/14/23, anchor strides 3.5..56, box embedding 768, images fit into 896 x 896 and
# beta 0.4 (the config notes that 0.6 or 0.8 raise APr).
#     python tools/convert_checkpoint.py fvit fvit_eva_vitl14_ovlvis_clipself_patches.pth fvit_l14_ovlvis.pth
#     python tools/test.py configs/detection/fvit_eva_vitl14_ov_lvis.py --weights fvit_l14_ovlvis.pth
# Released class embeddings: lvis_with_background_evaclip_vitl14x336.pt (model.class_embeddings).
from mmengine.config import read_base

from ovperception.datasets.transforms import LoadImageFromFile, ResizeShortSide
from ovperception.datasets.detection_transforms import PackOVDetInputs
from ovperception.models.detection import FViTMaskHead

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.lvis_v1 import *
    from .._base_.models.fvit_eva_vitb16 import *

image_side = 896
model.update(out_indices=[6, 10, 14, 23], seen_classnames='fvit/lvis_v1_seen', beta=0.4,
             vlm_temperature=50.0,
             mask_head=dict(type=FViTMaskHead, in_channels=256, conv_channels=256))
model.backbone.update(model_name='EVA02-L-14-336', pretrained='merged2b_s6b_b61k')
model.neck.update(in_channels=1024)
model.rpn_head.update(norm=True, strides=[3.5, 7, 14, 28, 56])
model.box_head.update(embed_dim=768)
model.test_cfg.update(score_thr=1e-4, nms_iou=0.5, max_per_img=300, pad_to=image_side)
model.train_cfg.update(background_weight=0.9, match_low_quality=True, pad_to=image_side)
test_pipeline = [dict(type=LoadImageFromFile),
                 dict(type=ResizeShortSide, short_side=image_side, max_long_side=image_side),
                 dict(type=PackOVDetInputs)]
test_dataloader.dataset.update(pipeline=test_pipeline)
published_metrics = {'lvis/segm_APr': 0.349,
                     'source': 'wusize/CLIPSelf F-ViT/README.md, OV-LVIS table, row 8 (ViT-L/14, '
                               'CLIPSelf): mAPr 34.9 (mask AP of the rare classes)'}
