"""Tiny constructor arguments of the distillation recipes (merged into tests/tiny.py)."""
from __future__ import annotations

from tests.tiny import TINY_BACKBONE
from tests.tiny_dino import TINY_DINO

TINY: dict[str, dict] = {
    'DeCLIPDistiller': dict(type='DeCLIPDistiller',
                            backbone=dict(TINY_BACKBONE, dense_mode='declip', frozen=False),
                            head=dict(type='DenseSimilarityHead'), vfm=TINY_DINO,
                            template_set='single', trainable_blocks=1, max_split=2,
                            crop_size=64, test_cfg=dict(mode='slide', crop_size=64, stride=32)),
}
