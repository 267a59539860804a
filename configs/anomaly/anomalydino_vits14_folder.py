# AnomalyDINO on your own images (configs/_base_/datasets/anomaly_folder.py): k normal
# reference images from reference_dir, kept apart from the test images, e.g.
#   python tools/test.py configs/anomaly/anomalydino_vits14_folder.py --cfg-options \
#     test_dataloader.dataset.data_root=data/my_parts test_dataloader.dataset.category=screw \
#     test_dataloader.dataset.reference_dir=refs custom_hooks.2.k=4
# Foreground masking is off (turn it on for centred objects on a plain background:
# model.head.masking=True); references are rotated (model.head.rotation=False for parts that
# always lie the same way).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.anomaly_folder import *
    from .._base_.models.anomalydino_vits14 import *

test_dataloader.dataset.update(pipeline=anomalydino_pipeline)
test_evaluator.update(anomalydino_metrics)
model.head.update(masking=False)
custom_hooks.append(anomalydino_shots)
