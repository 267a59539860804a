"""Tiny constructor arguments for every registered model component (used by test_registry)."""
from __future__ import annotations

TINY_CLIP_KWARGS = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=2, head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
)
TINY_BACKBONE = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                     dense_mode='sclip', model_kwargs=TINY_CLIP_KWARGS)

TINY: dict[str, dict] = {
    'OpenCLIPBackbone': TINY_BACKBONE,
    'DenseSimilarityHead': dict(type='DenseSimilarityHead'),
    'AdaptedSimilarityHead': dict(type='AdaptedSimilarityHead', in_channels=32,
                                  hidden_channels=8),
    'OVDataPreprocessor': dict(type='OVDataPreprocessor'),
    'PAMRRefiner': dict(type='PAMRRefiner', num_iter=2, dilations=(1, 2)),
    'OVModel': dict(type='OVModel', backbone=TINY_BACKBONE,
                    head=dict(type='DenseSimilarityHead'), template_set='single',
                    test_cfg=dict(mode='slide', crop_size=64, stride=32)),
}
