"""Tiny constructor arguments of the DINO-based components (ProxyCLIP, CLIP-DINOiser, LPOSS,
Talk2DINO, CASS)."""
from __future__ import annotations

from tests.tiny import TINY_BACKBONE

TINY_DINO_KWARGS = dict(embed_dim=32, depth=2, num_heads=2, img_size=64)
TINY_DINO = dict(type='DINOEncoder', arch='vit_small_patch16_224', pretrained=None,
                 model_kwargs=TINY_DINO_KWARGS)
TINY_DINO_P8 = dict(TINY_DINO, arch='vit_small_patch8_224')
TINY_MASKCLIP = dict(TINY_BACKBONE, dense_mode='maskclip')
TINY_DINOV2_REG = dict(type='DINOEncoder', arch='vit_small_patch14_reg4_dinov2', pretrained=None,
                       pos_embed_resize='bicubic_offset',
                       model_kwargs=dict(embed_dim=32, depth=2, num_heads=2, img_size=56))
TINY_DINOISER_BACKBONE = dict(type='CLIPDINOiserBackbone', clip=TINY_MASKCLIP, feature_layer=0,
                              proj_channels=8)

TINY = {
    'DINOEncoder': TINY_DINO,
    'ProxyCLIPBackbone': dict(type='ProxyCLIPBackbone', clip=TINY_BACKBONE, proxy=TINY_DINO_P8),
    'CLIPDINOiserBackbone': TINY_DINOISER_BACKBONE,
    'LPOSSBackbone': dict(type='LPOSSBackbone', clip=TINY_MASKCLIP, dino=TINY_DINO),
    'LabelPropagationHead': dict(type='LabelPropagationHead', pixel_refine=True),
    'Talk2DINOBackbone': dict(type='Talk2DINOBackbone', clip=TINY_BACKBONE, dino=TINY_DINOV2_REG,
                              resize_dim=56),
    'Talk2DINOHead': dict(type='Talk2DINOHead', text_dim=32, dino_dim=32),
    'CASSBackbone': dict(type='CASSBackbone', clip=dict(TINY_BACKBONE, grid_remainder='drop'),
                         dino=dict(TINY_DINO_P8, model_kwargs=dict(TINY_DINO_KWARGS, embed_dim=64))),
    'CASSHead': dict(type='CASSHead', logit_scale=40.0),
    'SaliencyFilteredHead': dict(type='SaliencyFilteredHead', logit_scale=40.0),
    'CLIPDINOiserDistiller': dict(type='CLIPDINOiserDistiller', backbone=TINY_DINOISER_BACKBONE,
                                  head=dict(type='SaliencyFilteredHead'), teacher=TINY_DINO,
                                  template_set='single',
                                  test_cfg=dict(mode='slide', crop_size=64, stride=32)),
}
