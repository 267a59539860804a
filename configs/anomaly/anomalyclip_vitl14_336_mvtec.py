# AnomalyCLIP zero-shot on MVTec AD with prompts trained on VisA
# (configs/anomaly/anomalyclip_vitl14_336_visa_train.py):
#   python tools/test.py configs/anomaly/anomalyclip_vitl14_336_mvtec.py --weights CKPT
# 518 px, maps smoothed with a Gaussian of sigma 4 before the metrics (as AnomalyCLIP).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.mvtec_ad import *
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
published_metrics = dict(image_AUROC=91.5, image_AP=96.2, pixel_AUROC=91.1, AUPRO=81.4,
                         source='AnomalyCLIP paper (ICLR 2024) Tab. 1 (trained on VisA); the '
                         'released checkpoint logs 91.6 / 96.4 / 91.1 / 81.4')
