"""Tiny constructor arguments of the detection components (merged into tests/tiny.py)."""
from __future__ import annotations

_TINY_VIT4 = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                  dense_mode='maskclip', model_kwargs=dict(
                      embed_dim=32, vision_cfg=dict(image_size=64, patch_size=16, width=64,
                                                    layers=4, head_width=32),
                      text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2,
                                    layers=2)))

TINY: dict[str, dict] = {
    'FViT': dict(type='FViT', backbone=_TINY_VIT4, out_indices=[0, 1, 2, 3],
                 neck=dict(type='ViTSimplePyramid', in_channels=64, out_channels=16),
                 rpn_head=dict(type='FViTRPNHead', in_channels=16, feat_channels=16),
                 box_head=dict(type='FViTBoxHead', in_channels=16, conv_channels=16,
                               embed_dim=32),
                 mask_head=dict(type='FViTMaskHead', in_channels=16, conv_channels=16)),
    'ViTSimplePyramid': dict(type='ViTSimplePyramid', in_channels=16, out_channels=8),
    'FViTRPNHead': dict(type='FViTRPNHead', in_channels=8, feat_channels=8),
    'FViTBoxHead': dict(type='FViTBoxHead', in_channels=8, conv_channels=8, embed_dim=16),
    'FViTMaskHead': dict(type='FViTMaskHead', in_channels=8, conv_channels=8),
    'OVDetectionHead': dict(type='OVDetectionHead'),
    'ConnectedComponentProposals': dict(type='ConnectedComponentProposals', min_area=1),
    'LearnedProposals': dict(type='LearnedProposals', in_channels=32, hidden_channels=8),
    'SAMProposals': dict(type='SAMProposals', sam=dict(type='SAMWrapper', model_type='tiny'),
                         points_per_side=2),
}
