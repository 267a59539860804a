# Mask-Adapter mixed-mask training on the tiny FC-CLIP (frozen random CLIP and segmenter) on
# synthetic panoptic shapes: the adapter and the void embedding learn, nothing else (a smoke
# run; tests/tools/test_mask_adapter_train.py shows the classification of held-out masks).
# python tools/train.py configs/tiny/fcclip_tiny_mask_adapter_train.py
from mmengine.config import read_base

from ovperception.evaluation import IoUMetric, PanopticMetric
from ovperception.models.panoptic import MaskAdapter

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_panoptic import *
    from .._base_.models.tiny_fcclip_convnext import *
    from .._base_.schedules.iter_20k import *

# released training defaults except the mask counts (16 ground-truth, 8 matched predicted
# masks; IoU 0.7, CE weight 2, cosine weight 5): the tiny images hold at most 3 segments
model.update(mask_adapter=dict(type=MaskAdapter, mask_in_chans=16, num_channels=32,
                               num_output_maps=4),
             adapter_training=dict(num_gt_masks=4, num_pred_masks=2),
             alpha=0.7, beta=0.9, mask_threshold=0.5)
val_evaluator = [dict(type=IoUMetric, iou_metrics=['mIoU']), dict(type=PanopticMetric)]
test_evaluator = val_evaluator
optim_wrapper.optimizer.update(lr=1e-3, weight_decay=0.0)
param_scheduler[0].update(end=40)
train_cfg.update(max_iters=40, val_interval=40)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=40)
