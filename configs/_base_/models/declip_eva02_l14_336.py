# DeCLIP EVA-02-CLIP ViT-L/14 (336 px): the architecture DeCLIP's training script
# scripts/dist_DeCLIP_eva_vitL14_336_coco.sh fine-tunes, with the `csa` dense features.
# Weights: a DeCLIP ViT-L release (the maintainer announced DeCLIP-EVA-L-DINOv2-L_csa_0.05_2.0
# in xiaomoguhz/DeCLIP issue #8; not in a README we could read) or your own training
# (EVA-CLIP layout, converted on load): pass it with --weights. The segmentation protocol of
# the official code is given for ViT-B only; this base keeps its settings (crops 336/112).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead

model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(type=OpenCLIPBackbone, model_name='EVA02-L-14-336',
                  pretrained='checkpoints/DeCLIP_EVA-L_DINOv2-L_csa_0.05_2.0.pt',
                  dense_mode='declip', grid_remainder='centre_pad'),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=336, stride=112, crop_batch_size=8),
)
