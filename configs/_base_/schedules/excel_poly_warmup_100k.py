# ExCEL's MS COCO schedule (zwyang6/ExCEL @ 2cd7f51 scripts/train_coco.py, utils/optimizer.py
# PolyWarmupAdamW): AdamW betas (0.9, 0.999), eps 1e-8, weight decay 1e-2; only the seg head
# trains, in the groups at lr * 10 = 1e-3; linear warmup over 200 iterations from 1e-6 x lr,
# then lr x (1 - t / 100000); no gradient clipping; 100,000 iterations of batch 4. Validation
# every 10,000 iterations as the run of logs/coco_train.log (eval_iters=10000 in its args; the
# argparse default is 100, which would validate 1,000 times).
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop, ValLoop
from torch.optim import AdamW

from ovperception.engine.schedulers import PolyWarmupLR

optim_wrapper = dict(type=OptimWrapper,
                     optimizer=dict(type=AdamW, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                                    weight_decay=1e-2))
# by_epoch=False must be explicit: mmengine's runner otherwise ends a scheduler at max_epochs
param_scheduler = [dict(type=PolyWarmupLR, warmup_iters=200, warmup_ratio=1e-6,
                        max_iters=100000, power=1.0, by_epoch=False, begin=0, end=100000)]
train_cfg = dict(type=IterBasedTrainLoop, max_iters=100000, val_interval=10000)
val_cfg = dict(type=ValLoop)
