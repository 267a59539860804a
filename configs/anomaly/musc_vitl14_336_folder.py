# MuSc on a folder of your own unlabeled images (configs/_base_/datasets/anomaly_folder.py):
# all test images of the folder are scored against each other, e.g.
#   python tools/test.py configs/anomaly/musc_vitl14_336_folder.py --cfg-options \
#     test_dataloader.dataset.data_root=data/my_parts test_dataloader.dataset.category=screw
# Large sets: --cfg-options model.feature_store=disk keeps the features in files.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.anomaly_folder import *
    from .._base_.models.musc_vitl14_336 import *

test_dataloader.dataset.update(pipeline=musc_pipeline)
test_evaluator.update(musc_metrics)
