# AnomalyDINO-S, 1-shot on MVTec AD (dammsi/AnomalyDINO, 'agnostic' preprocessing, 448 px):
#   python run_anomalydino.py --dataset MVTec --shots 1 --num_seeds 3 --preprocess agnostic
# Protocol: the shorter image side resized to 448 px (PIL bicubic, as torchvision Resize on
# PIL images), cropped to a multiple of 14 px; the reference of seed s is image s of the
# sorted train/good folder (FewShotMemoryHook draw='slice'; the paper reports the mean of
# seeds 0, 1, 2: --cfg-options custom_hooks.2.seed=1, ...). Metrics as the official
# post_eval.py: MVTec AD's exact AUPRO (FPR 0.3), maps smoothed with sigma 4.
# Published: image_AUROC=96.6 (arXiv 2405.14529v2 abstract, one-shot MVTec-AD).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.mvtec_ad import *
    from .._base_.models.anomalydino_vits14 import *

test_dataloader.dataset.update(pipeline=anomalydino_pipeline)
test_evaluator.update(anomalydino_metrics)
custom_hooks.append(anomalydino_shots)

published_metrics = dict(image_AUROC=96.6,
                         source='AnomalyDINO paper (arXiv 2405.14529v2) abstract: one-shot '
                         'MVTec-AD AUROC 96.6 (mean of 3 seeds); other metrics not verified')
