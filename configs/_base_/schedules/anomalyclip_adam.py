# AnomalyCLIP schedule: Adam lr 1e-3, batch 8, 15 epochs (iterations here: 15 epochs of the
# 2162 VisA test images at batch 8 = 4054 iterations; on the 1725 MVTec test images: 3235).
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop, ValLoop
from torch.optim import Adam

optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=Adam, lr=1e-3, betas=(0.5, 0.999)))
param_scheduler = []
train_cfg = dict(type=IterBasedTrainLoop, max_iters=4054, val_interval=100000)
val_cfg = None
