"""Tiny constructor arguments of the counting components (merged into tests/tiny.py)."""
TINY = {
    'BlockwiseCountingHead': dict(type='BlockwiseCountingHead', in_channels=32, feature_stride=16,
                                  block_size=8, hidden_channels=8),
}
TINY['ZeroShotCountingHead'] = dict(
    type='ZeroShotCountingHead', sam=dict(type='SAMWrapper', model_type='tiny', checkpoint=None),
    peak_stride=4, max_points=16)
