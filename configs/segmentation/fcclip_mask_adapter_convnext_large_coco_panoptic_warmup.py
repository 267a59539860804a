# Mask-Adapter stage 1, ground-truth warm-up (hustvl/MaskAdapter @ ad11a5c,
# configs/ground-truth-warmup/mask-adapter/mask_adapter_convnext_large_cocopan_eval_ade20k.yaml):
# the adapter alone learns on COCO panoptic ground-truth masks (cross-entropy against the
# ViLD-templated text embeddings + void, CE weight 2), frozen ConvNeXt-L CLIP; the segmenter is
# not run. Batch 8 (4 GPUs x 2), AdamW lr 1e-4 wd 0.05, steps 260231 / 283888 (x0.1),
# 295,717 iterations, 1024 LSJ crops, AMP, full-model gradient clipping at 1.0.
#   bash tools/dist_train.sh configs/segmentation/fcclip_mask_adapter_convnext_large_coco_panoptic_warmup.py 4 \
#       --weights FCCLIP_COCO_RELEASE.pth   # the FC-CLIP segmenter; the adapter starts from scratch
# Up to 32 ground-truth masks per image (a random subset when more), as released. Deviation:
# the released warm-up model starts its void embedding at random; here it starts from the
# loaded FC-CLIP's (both train it). Stage 2:
# fcclip_mask_adapter_convnext_large_coco_panoptic_train.py. No published number for stage 1.
from mmengine.config import read_base
from mmengine.optim import AmpOptimWrapper, MultiStepLR
from torch.optim import AdamW

from ovperception.models.panoptic import MaskAdapter

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.coco_panoptic import *
    from .._base_.models.fcclip_convnext_large import *
    from .._base_.schedules.iter_20k import *

model.update(mask_adapter=dict(type=MaskAdapter, mask_in_chans=16, num_channels=768,
                                num_output_maps=16),
             adapter_training=dict(num_gt_masks=32, num_pred_masks=0, class_weight=2.0),
             alpha=0.7, beta=0.9, mask_threshold=0.5)
train_dataloader.update(batch_size=2)
optim_wrapper = dict(type=AmpOptimWrapper, loss_scale='dynamic',
                     optimizer=dict(type=AdamW, lr=1e-4, weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [dict(type=MultiStepLR, milestones=[260231, 283888], gamma=0.1, begin=0,
                        end=295717, by_epoch=False)]
train_cfg.update(max_iters=295717, val_interval=10000)
default_hooks.checkpoint.update(interval=10000, max_keep_ckpts=3)
auto_scale_lr = dict(enable=False, base_batch_size=8)
published_metrics_unverified = (
    'stage 1 of 2: the Mask-Adapter README publishes numbers only for the final (stage-2) '
    'models, on ADE20K / Pascal Context / VOC, not on this COCO validation')
