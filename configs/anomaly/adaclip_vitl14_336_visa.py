# AdaCLIP zero-shot on VisA with prompts trained on MVTec AD (+ ColonDB in the release):
# the released pretrained_mvtec_colondb.pth (converted on load) or a checkpoint of
# configs/anomaly/adaclip_vitl14_336_mvtec_train.py:
#   python tools/test.py configs/anomaly/adaclip_vitl14_336_visa.py --weights CKPT
# 518 px (bicubic resize), maps smoothed with a Gaussian of sigma 4 before the metrics.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.visa import *
    from .._base_.models.adaclip_vitl14_336 import *

test_dataloader.dataset.update(adaclip_dataset)
test_evaluator.update(adaclip_metrics)
published_metrics = dict(image_AUROC=85.8, pixel_AUROC=95.5,
                         source='AdaCLIP paper (ECCV 2024, arXiv 2407.15795) industrial table: '
                         'image AUROC as listed from the paper by sotaverified.org; pixel AUROC '
                         'from a 2025 survey table, not checked against the paper (the README '
                         'shows the table as an image, a Git LFS pointer in the snapshot)')
