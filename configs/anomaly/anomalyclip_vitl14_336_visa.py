# AnomalyCLIP zero-shot on VisA with prompts trained on MVTec AD
# (configs/anomaly/anomalyclip_vitl14_336_mvtec_train.py):
#   python tools/test.py configs/anomaly/anomalyclip_vitl14_336_visa.py --weights CKPT
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.visa import *
    from .._base_.models.anomalyclip_vitl14_336 import *

test_pipeline = [
    dict(type=LoadImageFromFile),
    dict(type=LoadAnomalyMask),
    dict(type=ResizeAnomaly, size=(518, 518)),
    dict(type=PackAnomalyInputs),
]
test_dataloader.dataset.update(pipeline=test_pipeline)
# Metrics as AnomalyCLIP's test.py / metrics.py: maps smoothed with sigma 4, the 200-step
# thresholded AUPRO (cal_pro_score), image score = the class token's text probability.
test_evaluator.update(gaussian_sigma=4.0, aupro_variant='thresholded')
published_metrics = dict(image_AUROC=82.1, image_AP=85.4, pixel_AUROC=95.5, AUPRO=87.0,
                         source='AnomalyCLIP paper (ICLR 2024) Tab. 1 (trained on MVTec AD); '
                         'the released checkpoint logs 82.0 / 85.3 / 95.5 / 86.7')
