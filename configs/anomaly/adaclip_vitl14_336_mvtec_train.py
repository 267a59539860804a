# Train AdaCLIP's prompts on the MVTec AD test split (images + masks) and evaluate the
# checkpoint zero-shot on the other dataset (configs/anomaly/adaclip_vitl14_336_visa.py):
#   python tools/train.py configs/anomaly/adaclip_vitl14_336_mvtec_train.py
# The release adds a medical set (ColonDB, README "Corrections"), which this
# project does not ship, and keeps the epoch with the best pixel F1-max on the other dataset
# (train.py); here every epoch is saved: evaluate them and keep the best the same way.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.mvtec_ad import *
    from .._base_.models.adaclip_vitl14_336 import *
    from .._base_.schedules.adaclip_adamw import *

from ovperception.datasets import AnomalyMosaic

# the release's MVTec AD training mosaic (aug_rate 0.2: 2x2 images of one category)
train_pipeline = adaclip_pipeline[:2] + [dict(type=AnomalyMosaic, rate=0.2)] + adaclip_pipeline[2:]
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    sampler=dict(type=DefaultSampler, shuffle=True),
    collate_fn=dict(type=pseudo_collate),
    dataset=dict(type=MVTecADDataset, data_root=test_dataloader.dataset.data_root, split='test',
                 object_names='category', category_pool=True, pipeline=train_pipeline),
)
test_dataloader.dataset.update(adaclip_dataset)
test_evaluator.update(adaclip_metrics)
default_hooks.checkpoint.update(interval=1)
