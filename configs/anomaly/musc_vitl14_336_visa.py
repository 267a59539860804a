# MuSc zero-shot on VisA (xrli-U/MuSc: ViT-L-14-336 openai, 518 px, RsCIN k [1, 8, 9] for
# VisA as models/musc.py sets); each category's test images are scored against each other.
# Protocol: metrics without smoothing, thresholded AUPRO (the release's cal_pro_score).
# Deviation: the release resizes VisA images on the shorter side + centre crop but squashes
# the masks to 518x518 (image and mask then cover different regions); here image and mask
# are both resized to 518x518.
# Published (xrli-U/MuSc README, 'Results of different backbones', ViT-L-14-336, 518 px):
#   image_AUROC=92.57, image_F1max=89.06, image_AP=93.31, pixel_AUROC=98.71,
#   pixel_F1max=48.90, pixel_AP=45.38, AUPRO=92.43.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.visa import *
    from .._base_.models.musc_vitl14_336 import *

test_dataloader.dataset.update(pipeline=musc_pipeline)
test_evaluator.update(musc_metrics)
model.update(rescore_k=(1, 8, 9))

published_metrics = dict(image_AUROC=92.57, image_AP=93.31, image_F1max=89.06,
                         pixel_AUROC=98.71, pixel_AP=45.38, pixel_F1max=48.90, AUPRO=92.43,
                         source='xrli-U/MuSc README, Results of different backbones, VisA, '
                         'ViT-L-14-336 CLIP 518 px')
