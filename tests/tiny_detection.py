"""Tiny constructor arguments of the detection components (merged into tests/tiny.py)."""
from __future__ import annotations

TINY: dict[str, dict] = {
    'OVDetectionHead': dict(type='OVDetectionHead'),
    'ConnectedComponentProposals': dict(type='ConnectedComponentProposals', min_area=1),
    'LearnedProposals': dict(type='LearnedProposals', in_channels=32, hidden_channels=8),
    'SAMProposals': dict(type='SAMProposals', sam=dict(type='SAMWrapper', model_type='tiny'),
                         points_per_side=2),
}
