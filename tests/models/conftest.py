"""Tiny open_clip tower configurations (random init, well under 5 MB per vision tower)."""
from __future__ import annotations

import copy

import pytest

from tests.tiny import TINY_CLIP_KWARGS

_TINY_TEXT = TINY_CLIP_KWARGS['text_cfg']

TINY_CLIP_CONFIGS: dict[str, tuple[str, dict]] = {
    # name: (open_clip model name, model_kwargs)
    'vit': ('ViT-B-16', TINY_CLIP_KWARGS),
    'resnet': ('RN50', dict(
        embed_dim=32, text_cfg=_TINY_TEXT,
        vision_cfg=dict(image_size=64, layers=[1, 1, 1, 1], width=8, patch_size=None))),
    'convnext': ('convnext_base', dict(
        embed_dim=32, text_cfg=_TINY_TEXT,
        vision_cfg=dict(timm_model_name='test_convnext', timm_model_pretrained=False,
                        timm_pool='', timm_proj='linear', image_size=64))),
}


@pytest.fixture
def tiny_clip_configs() -> dict[str, tuple[str, dict]]:
    """{'vit' | 'resnet' | 'convnext': (model_name, model_kwargs)}, fresh copies."""
    return copy.deepcopy(TINY_CLIP_CONFIGS)


@pytest.fixture
def tiny_vit_kwargs() -> dict:
    """model_kwargs of a tiny 'ViT-B-16' (64 px, patch 16, width 64, 2 blocks, 2 heads)."""
    return copy.deepcopy(TINY_CLIP_CONFIGS['vit'][1])
