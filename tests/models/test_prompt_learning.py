"""Learnable text prompts: parity with encode_text, deep prompts, gradients; state prompts."""
from __future__ import annotations

import pytest
import torch

from ovperception.models.anomaly.prompts import (ANOMALOUS_STATES, NORMAL_STATES,
                                                      WINCLIP_TEMPLATES, compose_state_templates,
                                                      object_name, state_prompt_templates)
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.clip.prompt_learning import (encode_text_with_prompts,
                                                      placeholder_embeddings)


@pytest.fixture(scope='module')
def backbone() -> OpenCLIPBackbone:
    from tests.tiny import TINY_CLIP_KWARGS
    torch.manual_seed(0)
    return OpenCLIPBackbone('ViT-B-16', None, model_kwargs=TINY_CLIP_KWARGS)


def test_unchanged_prompts_reproduce_encode_text(backbone):
    texts = ['X X X object.', 'X X X damaged object.', 'a photo of a screw.']
    tokens = backbone.tokenizer(texts)
    reference = backbone.encode_text(texts)
    plain = encode_text_with_prompts(backbone.model, tokens)
    same_ctx = encode_text_with_prompts(backbone.model, tokens,
                                        placeholder_embeddings(backbone.model, tokens, 3))
    torch.testing.assert_close(plain, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(same_ctx, reference, atol=1e-5, rtol=1e-5)


def test_context_and_deep_prompts_change_output_and_get_gradients(backbone):
    tokens = backbone.tokenizer(['X X X object.', 'X X X damaged object.'])
    ctx = torch.nn.Parameter(torch.randn(2, 3, 32) * 0.02)
    deep = torch.nn.Parameter(torch.randn(1, 2, 32) * 0.02)
    out = encode_text_with_prompts(backbone.model, tokens, ctx, [deep[0]])
    assert out.shape == (2, 32)
    assert not torch.allclose(out, backbone.encode_text(['X X X object.',
                                                         'X X X damaged object.']))
    out.sum().backward()
    assert ctx.grad.abs().sum() > 0 and deep.grad.abs().sum() > 0
    assert all(p.grad is None for p in backbone.model.parameters())
    with pytest.raises(ValueError, match='deep prompts'):
        encode_text_with_prompts(backbone.model, tokens, ctx, [deep[0]] * 2)


def test_state_templates_compose_every_state_with_every_template():
    normal, anomalous = state_prompt_templates('winclip')
    assert len(WINCLIP_TEMPLATES) == 21
    assert len(normal) == 21 * len(NORMAL_STATES) == 147
    assert len(anomalous) == 21 * len(ANOMALOUS_STATES) == 84
    assert 'a cropped photo of the damaged {}.' in anomalous
    assert compose_state_templates(['{} with flaw'], ['a photo of a {}.']) == (
        'a photo of a {} with flaw.',)
    assert all(t.count('{}') == 1 for t in normal + anomalous)
    assert object_name('metal_nut') == 'metal nut' and object_name('new_thing') == 'new thing'
    with pytest.raises(ValueError, match='unknown anomaly template set'):
        state_prompt_templates('nope')
