# F-ViT ViT-L/14-336 on OV-COCO (wusize/CLIPSelf F-ViT, config
# fvit_vitl14_upsample_fpn_bs64_3e_ovcoco_eva_clipself_proposals.py): as the ViT-B/16 config, with
# blocks 6/10/14/23, anchor strides 3.5..56, box embedding 768, images fit into 896 x 896.
#     python tools/convert_checkpoint.py fvit fvit_eva_vitl14_ovcoco_clipself_proposals.pth fvit_l14_ovcoco.pth
#     python tools/test.py configs/detection/fvit_eva_vitl14_ov_coco.py --weights fvit_l14_ovcoco.pth
# Released class embeddings: coco_with_background_evaclip_vitl14x336.pt (see the B/16 config).
from mmengine.config import read_base

from ovperception.datasets.transforms import LoadImageFromFile, ResizeShortSide
from ovperception.datasets.detection_transforms import PackOVDetInputs

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.ov_coco import *
    from .._base_.models.fvit_eva_vitb16 import *
    from .._base_.schedules.iter_20k import *

image_side = 896
model.update(out_indices=[6, 10, 14, 23])
model.backbone.update(model_name='EVA02-L-14-336', pretrained='merged2b_s6b_b61k')
model.neck.update(in_channels=1024)
model.rpn_head.update(strides=[3.5, 7, 14, 28, 56])
model.box_head.update(embed_dim=768)
model.test_cfg.update(pad_to=image_side)
model.train_cfg.update(pad_to=image_side)
test_pipeline = [dict(type=LoadImageFromFile),
                 dict(type=ResizeShortSide, short_side=image_side, max_long_side=image_side),
                 dict(type=PackOVDetInputs)]
train_pipeline = [dict(type=LoadImageFromFile),
                  dict(type=ResizeShortSide, short_side=image_side, max_long_side=image_side),
                  *train_pipeline[2:]]
val_dataloader.dataset.update(pipeline=test_pipeline)
test_dataloader = val_dataloader
train_dataloader.dataset.update(pipeline=train_pipeline)
optim_wrapper.optimizer.update(lr=1e-4, weight_decay=0.1)  # and clip 1.0, as released
default_hooks.checkpoint.update(interval=2000, save_best='coco/bbox_novel_ap50', rule='greater')
published_metrics = {'coco/bbox_novel_ap50': 0.443,
                     'source': 'wusize/CLIPSelf F-ViT/README.md, OV-COCO table, row 5 (ViT-L/14, '
                               'CLIPSelf, proposals +): AP50novel 44.3'}
