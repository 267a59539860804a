# WinCLIP zero-shot on your own folders (configs/_base_/datasets/anomaly_folder.py):
#   python tools/test.py configs/anomaly/winclip_vitb16plus_folder.py --cfg-options \
#     test_dataloader.dataset.data_root=data/my_parts test_dataloader.dataset.category=screw
# WinCLIP+ k-shot: set test_dataloader.dataset.reference_dir=DIR (normal images kept apart
# from the test ones) and, in a copy of this config, append
# dict(type=FewShotMemoryHook, k=1, seed=0) to custom_hooks (as winclip_plus_*_1shot.py).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.anomaly_folder import *
    from .._base_.models.winclip_vitb16plus import *

# Metrics as the WinCLIP reimplementation (Accurate-WinCLIP): thresholded AUPRO, no smoothing.
test_evaluator.update(gaussian_sigma=0.0, aupro_variant='thresholded')
