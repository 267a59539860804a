# CountCLIP on a tiny random CLIP (ViT, 8-px patches) over generated scenes of 2-4 red dots
# with captions "a photo of three red dots.": a short fine-tuning run whose counting loss
# falls, then number-prompt counting (accuracy, MAE). Smoke test of the whole path.
#     python tools/train.py configs/tiny/count_tiny_countclip.py
#     python tools/test.py configs/tiny/count_tiny_countclip.py --weights work_dirs/.../iter_80.pth
from mmengine.config import read_base
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.countbench import PackCaptionCountInputs, SyntheticCountCaptionDataset
from ovperception.evaluation import CountingMetric
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.counting import CountCLIP

with read_base():
    from .._base_.default_runtime import *
    from .._base_.schedules.iter_20k import *

tiny_count_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=8, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(type=CountCLIP, numbers=(2, 3, 4), clip_loss_weight=0.0,
             backbone=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                           frozen=False, model_kwargs=tiny_count_clip_kwargs))
scenes = dict(type=SyntheticCountCaptionDataset, num_samples=16, image_size=(64, 64),
              colours=('red',), min_count=2, max_count=4, radius=6, seed=0,
              pipeline=[dict(type=PackCaptionCountInputs)])
train_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type=InfiniteSampler, shuffle=True), collate_fn=dict(type=pseudo_collate),
    dataset=scenes)
val_dataloader = dict(
    batch_size=16, num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False), collate_fn=dict(type=pseudo_collate),
    dataset=dict(scenes, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type=CountingMetric, metrics=['accuracy', 'MAE'], prefix='val')
test_evaluator = dict(type=CountingMetric, metrics=['accuracy', 'MAE'], prefix='test')
optim_wrapper.optimizer.update(lr=3e-4, weight_decay=0.0)
param_scheduler[0].update(end=80)
train_cfg.update(max_iters=80, val_interval=80)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=80)
