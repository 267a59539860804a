# Runtime shared by every config: scope, hooks, logging, environment.
from mmengine.hooks import (DistSamplerSeedHook, IterTimerHook, LoggerHook,
                            ParamSchedulerHook)

from mmengine.runner import TestLoop

from ovperception.engine.hooks import ProgressBarHook
from ovperception.engine.atomic_checkpoint import AtomicCheckpointHook
from ovperception.engine.plain_checkpoint import PlainCheckpointHook

default_scope = 'ovperception'
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
default_hooks = dict(
    timer=dict(type=IterTimerHook),
    logger=dict(type=LoggerHook, interval=50),
    param_scheduler=dict(type=ParamSchedulerHook),
    checkpoint=dict(type=AtomicCheckpointHook, by_epoch=False, interval=1000, max_keep_ckpts=2),
    sampler_seed=dict(type=DistSamplerSeedHook),
)
custom_hooks = [dict(type=ProgressBarHook), dict(type=PlainCheckpointHook)]
test_cfg = dict(type=TestLoop)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
