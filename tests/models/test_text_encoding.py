"""Trimmed text encoding (models/clip/text_encoding.py) equals the full 77-token context."""
from __future__ import annotations

import torch

from ovperception.models.clip.classnames import load_classnames
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.prompts import get_templates
from tests.tiny import TINY_CLIP_KWARGS


def test_trimmed_encoding_equals_full_context_on_real_templates(monkeypatch):
    backbone = OpenCLIPBackbone('ViT-B-16', model_kwargs=TINY_CLIP_KWARGS)
    names = load_classnames('ade20k')[::15]  # 10 names, short and long
    prompts = [t.format(n) for n in names for t in get_templates('imagenet80')]
    prompts += ['a photo of ' + 'very ' * 90 + 'long thing', 'x']  # truncated at 77; shortest
    lengths = []
    transformer = backbone.model.transformer
    original = transformer.forward
    monkeypatch.setattr(transformer, 'forward',
                        lambda x, *a, **k: (lengths.append(x.shape[1]), original(x, *a, **k))[1])
    trimmed = backbone.encode_text(prompts)
    trimmed_lengths, lengths[:] = list(lengths), []
    full = backbone.encode_text(prompts, trim=False)
    assert lengths == [77] * 4 and len(trimmed_lengths) == 4
    assert min(trimmed_lengths) < 20 and max(trimmed_lengths) == 77  # sorted: one long batch
    torch.testing.assert_close(trimmed, full, rtol=0, atol=2e-6)
    torch.testing.assert_close(backbone.encode_text(prompts[:3]), full[:3], rtol=0, atol=2e-6)
