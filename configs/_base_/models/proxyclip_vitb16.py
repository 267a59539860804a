# ProxyCLIP: frozen OpenAI CLIP ViT-B/16 whose last attention is replaced by proxy attention
# from DINO ViT-B/8 (paper default; beta=1.2, gamma=3.0), training-free cosine head.
# Protocol (ProxyCLIP repo): 80 ImageNet templates, 336 crops with stride 112, logit scale 40;
# both position embeddings resized by the DINO +0.1 bicubic rule, the repo's rounded
# normalisation constants, the repo's class-name files (set per dataset config).
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.segmentation import DenseSimilarityHead
from ovperception.models.refiners import DINOEncoder, ProxyCLIPBackbone

model = dict(
    type=OVModel,
    # = refiners.proxyclip.PROXYCLIP_MEAN / PROXYCLIP_STD, written out: a dumped config keeps
    # values, not imported constants (tests/test_config_roundtrip.py checks they are equal)
    data_preprocessor=dict(type=OVDataPreprocessor, mean=(122.771, 116.746, 104.094),
                           std=(68.501, 66.632, 70.323)),
    backbone=dict(
        type=ProxyCLIPBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained='openai',
                  model_kwargs=dict(quick_gelu=True),  # OpenAI weights use QuickGELU
                  pos_embed_resize='bicubic_offset'),
        proxy=dict(type=DINOEncoder, arch='vit_base_patch8_224', pretrained='dino',
                   pos_embed_resize='bicubic_offset'),
        beta=1.2, gamma=3.0, output_grid='proxy', proxy_features='tokens',
        pad_multiple=56, padding='centre'),  # the official window padding
    head=dict(type=DenseSimilarityHead, logit_scale=40.0, prob_threshold=0.0),
    template_set='imagenet80',
    test_cfg=dict(mode='slide', crop_size=336, stride=112, crop_batch_size=4),
)
