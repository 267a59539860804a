"""The weights log line names a changed (tiny) tower as such, not as the full model."""
from __future__ import annotations

from mmengine.config import Config

from ovperception.models.clip.open_clip import tower_description
from tests.scripts import ROOT


def test_tiny_tower_is_not_called_vit_b_16():
    cfg = Config.fromfile(f'{ROOT}/configs/tiny/seg_tiny.py')
    backbone = cfg.model.backbone
    text = tower_description(backbone.model_name, backbone.model_kwargs)
    assert text.startswith('custom tower (ViT-B-16 changed:')
    assert 'width 64' in text and 'layers 2' in text
    assert tower_description('ViT-B-16', {}) == 'ViT-B-16'
    assert tower_description('ViT-B-16', {'quick_gelu': True}) == 'ViT-B-16'
