# ExCEL's schedule (scripts/train_voc.py defaults, utils/optimizer.py PolyWarmupAdamW,
# engine/optimizer_engine.py): AdamW betas (0.9, 0.999), eps 1e-8, weight decay 1e-2; only the
# seg head trains, in the groups at lr * 10 = 1e-3 (the backbone groups at 1e-4 are empty);
# linear warmup over 50 iterations from 1e-6 x lr, then lr x (1 - t / 30000); no gradient
# clipping; 30,000 iterations of batch 4, validation every 2,000.
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop, ValLoop
from torch.optim import AdamW

from ovperception.engine.schedulers import PolyWarmupLR

optim_wrapper = dict(type=OptimWrapper,
                     optimizer=dict(type=AdamW, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                    weight_decay=1e-2))
# by_epoch=False must be explicit: mmengine's runner otherwise ends a scheduler at max_epochs
param_scheduler = [dict(type=PolyWarmupLR, warmup_iters=50, warmup_ratio=1e-6, max_iters=30000,
                        power=1.0, by_epoch=False, begin=0, end=30000)]
train_cfg = dict(type=IterBasedTrainLoop, max_iters=30000, val_interval=2000)
val_cfg = dict(type=ValLoop)
