# SC-CLIP (Bai et al., 2025): self-calibrated dense features of a frozen OpenAI CLIP ViT-B/16,
# training-free, no extra backbone: anomaly tokens of block 11 repaired by their neighbours
# (local outlier factor, k 30, 5 %), block 9's patch similarities calibrate the last attention
# and average the deep tokens, block 4's average the result, blocks 4..10 are fused.
# Protocol defaults (SuleBai/SC-CLIP): 80 ImageNet templates, 224 crops with stride 112, the
# repo's rounded normalisation constants, +0.1 bicubic position-embedding resize, floor patch
# grid stretched over each window, logit scale 40 (dataset configs override it).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead, SCCLIPBackbone

model = dict(
    type=OVModel,
    # = refiners.proxyclip.PROXYCLIP_MEAN / PROXYCLIP_STD, written out: a dumped config keeps
    # values, not imported constants (tests/test_config_roundtrip.py checks they are equal)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=(122.771, 116.746, 104.094),
                           std=(68.501, 66.632, 70.323)),
    backbone=dict(
        type=SCCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  pos_embed_resize='bicubic_offset', grid_remainder='drop'),
        pre_adjust_layer=8, post_adjust_layer=3, fusion_layers=(3, 10), cls_residual=0.3,
        similarity_threshold=0.4, attention_temperature=3.0, lof_neighbors=30,
        lof_contamination=0.05),
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=224, stride=112, crop_batch_size=16),
)
