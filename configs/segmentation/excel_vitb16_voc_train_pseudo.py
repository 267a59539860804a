# ExCEL training-free pseudo-masks on PASCAL VOC 2012 train (1,464 images), image-level labels
# from the ground truth, scored by mIoU against the masks -- zwyang6/ExCEL infer_lam.sh
# (--infer_set train --training_free true) at commit 2cd7f51: CLIP ViT-B/16 (OpenAI),
# ImageNet normalisation, 320 x 320 input, dual path on the last 5 blocks, prompt
# "a clean origami {}.", its 25 background words, attribute bank of 112 k-means clusters of
# the GPT-4 descriptions, box threshold 0.79 over 6 attention layers, PAR 20 iterations at
# dilations 1..24, labels at full size.
# The descriptions are the repository's data (no licence: not shipped). Put its
# attributes_text/descriptors_pascal_voc_gpt4.0_cluster_a_photo_of4.json at the path in
# configs/_base_/models/excel_vitb16.py.
# Published number: not recorded -- the README reports only the trained segmentation (val 78.4,
# test 78.5) and the paper's pseudo-mask table could not be read here.
from mmengine.config import read_base

with read_base():
    from .._base_.default_runtime import *
    from .._base_.datasets.excel_voc_aug import *
    from .._base_.models.excel_vitb16 import *

model.update(tags_from_ground_truth=True)
test_dataloader = pseudo_mask_dataloader
train_dataloader = None
val_dataloader = None
val_evaluator = None
published_metrics_unverified = (
    'ExCEL training-free pseudo-mask mIoU on VOC train: the README gives only the trained '
    'model (val 78.4, test 78.5); the paper table could not be read here')
