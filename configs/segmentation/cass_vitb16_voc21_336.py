# CASS on PascalVOCDataset (CLIP ViT-B/16 OpenAI + DINO ViT-B/8, training-free).
# Published mIoU 65.8 - source: arXiv 2511.16170 (SC-CLIP) Table 1, which lists CASS with ViT-B/16, as transcribed in a papernotes summary; not verified - the MICV-yonsei/CASS README shows its results table as an image only.
# Settings: MICV-yonsei/CASS configs/cfg_voc21.py (commit 228ecdd): short side 336, whole image, prob_thd 0.1, global_semantics_weight 0.1,
# mean_vector_weight 0.03, h_threshold 0.1; the global prior is each window's own embedding.
# Class names: configs/cls_*.txt of the release, identical to SCLIP's (classnames/sclip).
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.voc21 import *
    from .._base_.models.cass_vitb16 import *

model.head.update(global_weight=0.1, mean_vector_weight=0.03, cluster_threshold=0.1, prob_threshold=0.1, background_index=0, global_source='window')
model.test_cfg.update(mode='whole')
test_dataloader.dataset.pipeline[1].update(short_side=336, max_long_side=2048)
test_dataloader.dataset.update(classnames_file='sclip/voc21')
published_metrics = dict(
    mIoU=65.8,
    source="arXiv 2511.16170 (SC-CLIP) Table 1, which lists CASS with ViT-B/16, as transcribed in a papernotes summary; not verified - the MICV-yonsei/CASS README shows its results table as an image only")
