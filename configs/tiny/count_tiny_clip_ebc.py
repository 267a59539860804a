# CLIP-EBC as released (deep VPT, BasicBlock decoder, learned projection, DMCount) on a tiny random
# CLIP ViT (2 blocks, width 32, 4 prompt tokens): the architecture of the golden fixture
# tests/fixtures/golden/clip_ebc/, so a state dict in the official layout loads strictly.
# python tools/test.py configs/tiny/count_tiny_clip_ebc.py --weights OFFICIAL_LAYOUT.pth
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_count import *
    from .._base_.models.clip_ebc_vitb16 import *
    from .._base_.schedules.iter_20k import *

model.backbone.update(
    pretrained=None, input_size=32, num_vpt=4,
    model_kwargs=dict(quick_gelu=True, embed_dim=16,
                      vision_cfg=dict(image_size=32, patch_size=16, width=32, layers=2,
                                      head_width=16),
                      text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2,
                                    layers=1)))
model.head.update(in_channels=32, decoder_channels=[48], embed_dim=16,
                  representatives=[0, 1, 2, 3, 4.29992])
model.test_cfg = dict(mode='whole', crop_batch_size=4)
optim_wrapper.optimizer.update(lr=5e-3)
param_scheduler[0].update(end=60)
train_cfg.update(max_iters=60, val_interval=30)
default_hooks.logger.update(interval=10)
default_hooks.checkpoint.update(interval=30)
