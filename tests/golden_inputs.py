"""Seeded inputs of the golden-fixture tests: tiny CLIP weights and images from a seed.

The official implementations were run (outside the project) on exactly these weights and
images; ``tests/fixtures/golden/<method>/NOTE.md`` says how. Everything is drawn with NumPy's
legacy ``RandomState``, whose streams are fixed across NumPy versions, so no weights need to be
stored in the fixtures.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

#: A 2-block ViT-B/16-like CLIP (one attention head of 64 in both towers, as OpenAI's
#: ``build_model`` infers heads = width // 64), 224 input (a 14 x 14 position grid).
GOLDEN_CLIP_KWARGS = dict(
    embed_dim=32, quick_gelu=True,
    vision_cfg=dict(image_size=224, patch_size=16, width=64, layers=2, head_width=64),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=1, layers=2),
)
#: The normalisation constants of the official SCLIP / NACLIP / ClearCLIP pre-processors.
OFFICIAL_MEAN = (122.771, 116.746, 104.094)
OFFICIAL_STD = (68.501, 66.632, 70.323)


def _fan_in(name: str, shape: tuple[int, ...]) -> int:
    if name.endswith('proj') or name == 'text_projection':  # (in, out) matrices
        return shape[0]
    return int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]


def seeded_clip_state_dict(named_shapes: Iterable[tuple[str, tuple[int, ...]]],
                           seed: int = 0) -> dict[str, torch.Tensor]:
    """Random CLIP weights for the given (name, shape) pairs, drawn in sorted name order.

    Layer norms get weight ``1 + 0.1 z`` and bias ``0.1 z``; the logit scale is ``log 100``;
    embeddings ``0.5 z``; every other tensor ``z / sqrt(fan_in)`` (``z`` standard normal).
    Values are rounded to float16-representable numbers: OpenAI's ``build_model`` (SCLIP,
    NACLIP) stores weights in float16, which is then lossless.
    """
    state = {}
    rng = np.random.RandomState(seed)
    for name, shape in sorted((n, tuple(s)) for n, s in named_shapes):
        z = rng.standard_normal(shape)
        if name == 'logit_scale':
            value = np.full(shape, math.log(100.0))
        elif 'ln_' in name and name.endswith('.weight'):
            value = 1.0 + 0.1 * z
        elif 'ln_' in name and name.endswith('.bias'):
            value = 0.1 * z
        elif 'embedding' in name:
            value = 0.5 * z
        else:
            value = z / math.sqrt(max(1, _fan_in(name, shape)))
        state[name] = torch.from_numpy(np.asarray(value, dtype=np.float16).astype(np.float32))
    return state


def seeded_image(height: int, width: int, seed: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB: smooth blobs (bilinearly upsampled noise) plus fine noise."""
    rng = np.random.RandomState(seed)
    coarse = torch.from_numpy(rng.rand(1, 3, height // 24 + 2, width // 24 + 2) * 255.0)
    smooth = F.interpolate(coarse, size=(height, width), mode='bilinear',
                           align_corners=False)[0].permute(1, 2, 0).numpy()
    noisy = smooth + rng.standard_normal((height, width, 3)) * 12.0
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)
