"""Tiny constructor arguments of the Chimera-Seg components."""
from __future__ import annotations

from tests.tiny import TINY_BACKBONE

TINY_BODY = dict(type='TimmSegBody', model_name='test_efficientnet', output_stride=8)
TINY_CHIMERA_BACKBONE = dict(type='ChimeraBackbone', clip=dict(TINY_BACKBONE, dense_mode='vanilla'),
                             body=TINY_BODY, head_blocks=1)

TINY = {
    'TimmSegBody': TINY_BODY,
    'ChimeraBackbone': TINY_CHIMERA_BACKBONE,
    'ChimeraSeg': dict(type='ChimeraSeg', backbone=TINY_CHIMERA_BACKBONE,
                       head=dict(type='DenseSimilarityHead', logit_scale=40.0),
                       template_set='single', sgd_steps=40, teacher_size=64,
                       test_cfg=dict(mode='slide', crop_size=64, stride=32)),
}
