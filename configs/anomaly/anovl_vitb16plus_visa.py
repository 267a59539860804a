# AnoVL-style training-free scoring on VisA (ViT-B/16+ laion400m_e32, value-value patch
# tokens, domain-aware prompts, 240 px, no test-time adaptation). AnoVL reports its
# localisation numbers only in figures: there is no published number to compare with.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.visa import *
    from .._base_.models.anovl_vitb16plus import *

# Metrics as AnoVL's vl_test.py: the 200-step thresholded AUPRO (cal_pro_score), no
# Gaussian smoothing (commented out there).
test_evaluator.update(gaussian_sigma=0.0, aupro_variant='thresholded')
