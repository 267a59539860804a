# ResCLIP (CVPR 2025) on NACLIP, the repository's main results (`test_all.sh wo_resi resclip 5`):
# the NACLIP dense mode of a frozen OpenAI CLIP ViT-B/16 (k-k attention + Gaussian neighbourhood
# of std 5, no residual, no FFN), extended by residual cross-correlation attention (mean attention
# of blocks 6-9) and semantic feedback (a first pass matched with the vocabulary, PAMR-refined,
# per-patch names -> same-name attention mixed into the logits). On SCLIP or ClearCLIP instead:
# --cfg-options model.backbone.clip.dense_mode=sclip (or clearclip); the per-dataset weights
# below are the repository's, which it uses for all three.
# Protocol (yvhangyang/ResCLIP): 80 ImageNet templates, 224 crops with stride 112 (VOC: whole
# image), rounded normalisation constants, +0.1 bicubic position-embedding resize, floor patch
# grid stretched over each window, logit scale 40 (also the first pass' softmax).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead, ResCLIPBackbone

model = dict(
    type=OVModel,
    # = refiners.proxyclip.PROXYCLIP_MEAN / PROXYCLIP_STD, written out: a dumped config keeps
    # values, not imported constants (tests/test_config_roundtrip.py checks they are equal)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=(122.771, 116.746, 104.094),
                           std=(68.501, 66.632, 70.323)),
    backbone=dict(
        type=ResCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  dense_mode='naclip', naclip_gaussian_std=5.0,
                  pos_embed_resize='bicubic_offset', grid_remainder='drop'),
        rcs_layers=(5, 9), rcs_weights=(2.0, 0.3), sfr_weights=(2.1, 0.7), sfr_threshold=0.25,
        sfr_logit_scale=40.0, sfr_pamr=dict(num_iter=10, dilations=(8, 16)),
        delete_same_entity=True),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
