# MuSc zero-shot on MVTec AD (xrli-U/MuSc, configs/musc.yaml: ViT-L-14-336 openai, img_resize
# 518, feature_layers [5, 11, 17, 23], r_list [1, 3, 5], RsCIN k [1, 2, 3]); each category's
# test images are scored against each other (SetTestLoop).
# Protocol as the release: Resize 518 (PIL bicubic; MVTec images are square) + CLIP
# normalisation; metrics without smoothing, AUPRO = cflow-ad's 200-step cal_pro_score
# (utils/metrics.py), i.e. aupro_variant='thresholded'.
# Published (xrli-U/MuSc README, 'Results of different backbones', ViT-L-14-336, 518 px):
#   image_AUROC=97.77, image_F1max=97.37, image_AP=99.07, pixel_AUROC=97.11,
#   pixel_F1max=62.16, pixel_AP=62.26, AUPRO=93.45 (paper table row: 97.8 / 97.3 / 93.8).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.mvtec_ad import *
    from .._base_.models.musc_vitl14_336 import *

test_dataloader.dataset.update(pipeline=musc_pipeline)
test_evaluator.update(musc_metrics)

published_metrics = dict(image_AUROC=97.77, image_AP=99.07, image_F1max=97.37,
                         pixel_AUROC=97.11, pixel_AP=62.26, pixel_F1max=62.16, AUPRO=93.45,
                         source='xrli-U/MuSc README, Results of different backbones, MVTec AD, '
                         'ViT-L-14-336 CLIP 518 px')
