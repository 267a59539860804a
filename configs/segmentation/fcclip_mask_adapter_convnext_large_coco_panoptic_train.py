# Mask-Adapter stage 2, mixed-mask training on FC-CLIP ConvNeXt-L (hustvl/MaskAdapter @ ad11a5c,
# configs/mixed-mask-training/fc-clip/fcclip/fcclip_convnext_large_eval_ade20k.yaml): per image
# 16 ground-truth masks, 8 predicted masks of the frozen FC-CLIP that cover a ground-truth mask
# with IoU > 0.7 and those 8 ground-truth masks again; cross-entropy (weight 2) against the
# text embeddings + void and the IoU-based consistency loss 1 - cos(predicted, ground truth)
# (weight 5); frozen CLIP and segmenter. Batch 24 (4 GPUs x 6), AdamW lr 1e-4 wd 0.05, no
# warm-up, steps 43371 / 47314 (x0.1), 49,286 iterations, 1024 LSJ crops, AMP, clipping at 1.0.
#   bash tools/dist_train.sh configs/segmentation/fcclip_mask_adapter_convnext_large_coco_panoptic_train.py 4 \
#       --weights STAGE1_CHECKPOINT.pth   # or a released FC-CLIP + Mask-Adapter file
# Evaluate with configs/segmentation/fcclip_mask_adapter_convnext_large_*_800.py (published
# A-150 mIoU 36.6 for the released weights, Mask-Adapter README); not reproduced here (no GPUs).
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
             adapter_training=dict(num_gt_masks=16, num_pred_masks=8, iou_threshold=0.7,
                                   class_weight=2.0, cosine_weight=5.0),
             alpha=0.7, beta=0.9, mask_threshold=0.5)
train_dataloader.update(batch_size=6)
optim_wrapper = dict(type=AmpOptimWrapper, loss_scale='dynamic',
                     optimizer=dict(type=AdamW, lr=1e-4, weight_decay=0.05),
                     clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [dict(type=MultiStepLR, milestones=[43371, 47314], gamma=0.1, begin=0,
                        end=49286, by_epoch=False)]
train_cfg.update(max_iters=49286, val_interval=3300)
default_hooks.checkpoint.update(interval=3300, max_keep_ckpts=3)
auto_scale_lr = dict(enable=False, base_batch_size=24)
published_metrics_unverified = (
    'the Mask-Adapter README publishes zero-shot numbers of the trained model on ADE20K / '
    'Pascal Context / VOC (see fcclip_mask_adapter_convnext_large_*_800.py, e.g. A-150 mIoU '
    '36.6), none on this COCO validation; no GPU run here reproduced them')
