"""Tiny constructor arguments of the counting components (merged into tests/tiny.py)."""
TINY = {
    'CLIPEBCBackbone': dict(type='CLIPEBCBackbone', model_name='ViT-B-16', pretrained=None,
                            input_size=32, num_vpt=4, model_kwargs=dict(
                                embed_dim=16, vision_cfg=dict(image_size=32, patch_size=16,
                                                              width=32, layers=2, head_width=16),
                                text_cfg=dict(context_length=77, vocab_size=49408, width=32,
                                              heads=2, layers=1))),
    'BlockwiseCountingHead': dict(type='BlockwiseCountingHead', in_channels=32, feature_stride=16,
                                  block_size=8, hidden_channels=8),
}
TINY['ZeroShotCountingHead'] = dict(
    type='ZeroShotCountingHead', sam=dict(type='SAMWrapper', model_type='tiny', checkpoint=None),
    peak_stride=4, max_points=16)

_TINY_COUNT_CLIP = dict(type='OpenCLIPBackbone', model_name='ViT-B-16', pretrained=None,
                        model_kwargs=dict(embed_dim=16, vision_cfg=dict(
                            image_size=32, patch_size=16, width=32, layers=1, head_width=16),
                            text_cfg=dict(context_length=77, vocab_size=49408, width=32,
                                          heads=2, layers=1)))
TINY['CountCLIP'] = dict(type='CountCLIP', numbers=(2, 3), backbone=_TINY_COUNT_CLIP)
TINY['ImageLevelCountRefiner'] = dict(type='ImageLevelCountRefiner', input_size=32,
                                      numbers=(2, 3), backbone=_TINY_COUNT_CLIP)
