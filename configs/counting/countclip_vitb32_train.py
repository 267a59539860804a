# CountCLIP fine-tuning of OpenAI CLIP ViT-B/32: CLIP's contrastive loss plus the counting loss
# over counterfactual captions (weight 1, as in the paper), then CountBench.
#     python tools/train.py configs/counting/countclip_vitb32_train.py
# Training data: captioned images stating a count (the paper filtered ~158k counting images
# from LAION-400M; that set was not released). Give your own in CountBench's layout
# (data/count_captions/captions.json = [{"text", "number"}, ...] + images/<index>.<suffix>).
# Hyper-parameters the paper does not state in the text we could read (learning rate,
# batch, schedule) are our choices: AdamW 5e-6, batch 32, 20 epochs-equivalent iterations.
from mmengine.config import read_base
from mmengine.dataset import InfiniteSampler
from mmengine.dataset.utils import pseudo_collate
from mmengine.optim import CosineAnnealingLR, OptimWrapper
from mmengine.runner import IterBasedTrainLoop, ValLoop
from torch.optim import AdamW

from ovperception.datasets.transforms import RandomFlip
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.counting import CountCLIP

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.countbench import *

model = dict(type=CountCLIP, count_loss_weight=1.0, clip_loss_weight=1.0,
             backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-32', pretrained='openai',
                           frozen=False))
train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type=InfiniteSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=CountBenchDataset, data_root='data/count_captions',
                 ann_file='captions.json', img_dir='images',
                 pipeline=[countbench_pipeline[0], countbench_pipeline[1],
                           dict(type=RandomFlip, prob=0.5), countbench_pipeline[2]]),
)
val_dataloader = test_dataloader
val_evaluator = test_evaluator
optim_wrapper = dict(type=OptimWrapper, optimizer=dict(type=AdamW, lr=5e-6, weight_decay=0.1),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type=CosineAnnealingLR, T_max=100000, by_epoch=False, eta_min=0.0)]
train_cfg = dict(type=IterBasedTrainLoop, max_iters=100000, val_interval=5000)
val_cfg = dict(type=ValLoop)
published_metrics_unverified = ('CountCLIP ViT-B/32 fine-tuned: about 75.9 % CountBench accuracy '
                                '(paper Table 1); the value was cut off in the only copy of the '
                                'table we could read, and the training set was not released')
