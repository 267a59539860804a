"""Tiny constructor arguments of the FC-CLIP components (merged into tests/tiny.py)."""
from __future__ import annotations

TINY_CONVNEXT_CLIP = dict(
    type='OpenCLIPBackbone', model_name='convnext_base', pretrained=None,
    model_kwargs=dict(
        embed_dim=32,
        vision_cfg=dict(timm_model_name='test_convnext', timm_model_pretrained=False,
                        timm_pool='', timm_proj='linear', image_size=64),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2)))
TINY_PIXEL_DECODER = dict(type='MSDeformAttnPixelDecoder', conv_dim=32, mask_dim=32,
                          num_encoder_layers=1, num_heads=2, dim_feedforward=64)
TINY_MASK_DECODER = dict(type='MaskTransformerDecoder', hidden_dim=32, num_queries=8,
                         num_heads=2, dim_feedforward=64, num_layers=3)

TINY: dict[str, dict] = {
    'FPNPixelDecoder': dict(type='FPNPixelDecoder', conv_dim=32, mask_dim=32,
                            in_channels=[8, 16, 24, 32]),
    'MSDeformAttnPixelDecoder': dict(TINY_PIXEL_DECODER, in_channels=[8, 16, 24, 32]),
    'MaskTransformerDecoder': dict(TINY_MASK_DECODER, in_channels=32, mask_dim=32,
                                   embed_dim=32),
    'ContentDependentTransfer': dict(type='ContentDependentTransfer', embed_dim=32,
                                     num_heads=2),
    'MAFTContentTransfer': dict(type='MAFTContentTransfer', embed_dim=32, num_heads=2),
    'MaskSetCriterion': dict(type='MaskSetCriterion', num_points=64),
    'FCCLIP': dict(type='FCCLIP', backbone=TINY_CONVNEXT_CLIP, pixel_decoder=TINY_PIXEL_DECODER,
                   mask_decoder=TINY_MASK_DECODER, template_set='single'),
}
