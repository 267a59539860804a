# CASS with a tiny random CLIP ViT (2 blocks, 2 heads of 32, patch 16) and a tiny random DINO
# ViT/8 with as many heads: tests, CI and smoke runs. Otherwise as configs/_base_/models/cass_vitb16.py.
from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.data_preprocessor import OVDataPreprocessor
from ovperception.models.refiners import DINOEncoder
from ovperception.models.segmentation import CASSBackbone, CASSHead

tiny_clip_kwargs = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
model = dict(
    type=OVModel,
    data_preprocessor=dict(type=OVDataPreprocessor),
    backbone=dict(
        type=CASSBackbone,
        clip=dict(type=OpenCLIPBackbone, model_name='ViT-B-16', pretrained=None,
                  model_kwargs=tiny_clip_kwargs, pos_embed_resize='bicubic_offset',
                  grid_remainder='drop'),
        dino=dict(type=DINOEncoder, arch='vit_base_patch8_224', pretrained=None,
                  pos_embed_resize='bicubic_offset',
                  model_kwargs=dict(embed_dim=64, depth=2, num_heads=2, img_size=64))),
    head=dict(type=CASSHead, logit_scale=40.0, global_weight=0.2, mean_vector_weight=0.05,
              cluster_threshold=0.01),
    template_set='single',
    test_cfg=dict(mode='slide', crop_size=64, stride=32, crop_batch_size=8),
)
