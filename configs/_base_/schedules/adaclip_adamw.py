# AdaCLIP's schedule (train.py defaults): AdamW lr 0.01, betas (0.5, 0.999), torch's default
# weight decay 0.01, batch size 1 (train.py refuses others), 5 epochs, no LR schedule.
from mmengine.optim import OptimWrapper
from mmengine.runner import EpochBasedTrainLoop
from torch.optim import AdamW

optim_wrapper = dict(type=OptimWrapper,
                     optimizer=dict(type=AdamW, lr=0.01, betas=(0.5, 0.999), weight_decay=0.01))
param_scheduler = []
train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=5, val_interval=100)
val_cfg = None
