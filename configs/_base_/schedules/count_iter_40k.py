# AdamW + poly decay for the CLIP-EBC head: 40k iterations, validation every 2k (CLIP-EBC's own
# schedule is epoch-based and much longer; this one is not tuned against the paper).
from mmengine.optim import OptimWrapper, PolyLR
from mmengine.runner import IterBasedTrainLoop, ValLoop
from torch.optim import AdamW

optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=1e-4, weight_decay=1e-4),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type=PolyLR, eta_min=1e-6, power=1.0, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(type=IterBasedTrainLoop, max_iters=40000, val_interval=2000)
val_cfg = dict(type=ValLoop)
