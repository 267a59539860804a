"""Tiny EVA-02-CLIP towers and the seeded official-layout weights of the DeCLIP / CLIPSelf
golden fixtures (tests/fixtures/golden/declip/NOTE.md)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden'
TINY_EVA_KWARGS = dict(
    embed_dim=32,
    vision_cfg=dict(image_size=64, timm_model_name='eva02_base_patch16_clip_224',
                    timm_model_pretrained=False, timm_pool='token', timm_proj=None),
    text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2))
TINY_EVA_TIMM = dict(img_size=64, patch_size=16, embed_dim=64, depth=3, num_heads=2)
TINY_EVA_BACKBONE = dict(type='OpenCLIPBackbone', model_name='EVA02-B-16', pretrained=None,
                         dense_mode='declip', model_kwargs=TINY_EVA_KWARGS,
                         timm_kwargs=TINY_EVA_TIMM)
_HALF_SCALE = ('pos_embed', 'cls_token', 'positional_embedding')


def read_layout(method: str, name: str = 'layout_tiny.json') -> dict[str, list[int]]:
    """Names and shapes of an official state dict (``tests/fixtures/golden/<method>``)."""
    return json.loads((GOLDEN / method / name).read_text())


def seeded_official_state(layout: dict[str, list[int]], seed: int = 0
                          ) -> dict[str, torch.Tensor]:
    """The weight rule of the NOTE: one generator, names in sorted order, scaled normals;
    RoPE tables (rebuilt by every tower) are zeros."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name in sorted(layout):
        shape = layout[name]
        if 'rope.' in name:
            out[name] = torch.zeros(shape)
            continue
        n = torch.randn(shape, generator=generator)
        if name.endswith('logit_scale'):
            out[name] = torch.full(shape, math.log(1 / 0.07))
        elif len(shape) == 1:
            out[name] = 1 + 0.1 * n if name.endswith('weight') else 0.02 * n
        elif name.split('.')[-1] in _HALF_SCALE or name.endswith('token_embedding.weight'):
            out[name] = 0.5 * n
        else:
            out[name] = n / math.sqrt(int(np.prod(shape[1:])))
    return out


def weights_checksum(state: dict[str, torch.Tensor]) -> float:
    """Sum of the seeded (non-RoPE) weights, as the fixture stores it."""
    return sum(float(v.double().sum()) for k, v in state.items() if 'rope.' not in k)
