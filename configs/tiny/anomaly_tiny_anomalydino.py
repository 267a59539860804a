# AnomalyDINO 1-shot with a tiny random DINOv2 (2 blocks, patch 14) on a synthetic MVTec AD
# tree (write_mvtec_tree); smoke test of the few-shot kNN path:
#   python tools/test.py configs/tiny/anomaly_tiny_anomalydino.py \
#       --cfg-options test_dataloader.dataset.data_root=PATH_TO_TREE
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.synthetic_anomaly import *
    from .._base_.models.anomalydino_vits14 import *

from ovperception.datasets.anomaly import MVTecADDataset

model.backbone.update(pretrained=None,
                      model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=56))
model.head.update(masking=True, mask_threshold=1.0)
test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, short_edge=56, backend='pillow'),
    dict(type=PackAnomalyInputs),
]
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
test_evaluator.update(anomalydino_metrics)
custom_hooks.append(anomalydino_shots)
