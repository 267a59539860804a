# WinCLIP+ 2-shot with a tiny random CLIP on a synthetic MVTec AD tree (write_mvtec_tree):
# per category, 2 normal train/good images become the few-shot memory (FewShotMemoryHook).
#   python tools/test.py configs/tiny/anomaly_tiny_winclip_fewshot.py \
#       --cfg-options test_dataloader.dataset.data_root=PATH_TO_TREE
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_anomaly import *
    from .._base_.models.tiny_anomaly import *

from ovperception.datasets.anomaly import MVTecADDataset
from ovperception.engine.few_shot import FewShotMemoryHook

train_dataloader = None
val_dataloader = None
val_evaluator = None
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type=DefaultSampler, shuffle=False),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=MVTecADDataset, data_root='data/synthetic_mvtec', categories=['fabric'],
                 split='test', test_mode=True, pipeline=test_pipeline),
)
custom_hooks.append(dict(type=FewShotMemoryHook, k=2, seed=0))
