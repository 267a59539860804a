"""MAFT+ inference with its released weights: the content-dependent transfer reproduces the
official module (tests/fixtures/golden/maftp/NOTE.md), a MAFT+ state dict (FC-CLIP layout +
``cdt`` + the frozen teacher ``backbone_t``) converts, and the transfer reaches only the
out-of-vocabulary classifier with classes from it alone (alpha = beta = 1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ovperception.models.panoptic import MAFTContentTransfer
from ovperception.models.panoptic.convert import convert_fcclip
from tests.models.test_fcclip_golden import build_tiny_official, official_state

GOLDEN = Path(__file__).resolve().parents[1] / 'fixtures' / 'golden' / 'maftp' / 'cdt.npz'


@pytest.mark.parametrize('panoptic', [False, True])
def test_content_transfer_matches_the_released_module(panoptic):
    stored = np.load(GOLDEN)
    tag = 'panoptic' if panoptic else 'semantic'
    official = {k[len(tag) + 1:]: torch.from_numpy(stored[k]) for k in stored.files
                if k.startswith(tag + ':') and not k.endswith(':output')}
    converted = convert_fcclip({'cdt.' + k: v for k, v in official.items()})
    module = MAFTContentTransfer(16, num_heads=2, panoptic=panoptic)
    module.load_state_dict({k[len('content_transfer.'):]: v for k, v in converted.items()})
    with torch.no_grad():
        out = module(torch.from_numpy(stored['text']), torch.from_numpy(stored['image']))
    np.testing.assert_allclose(out.numpy(), stored[f'{tag}:output'], atol=1e-5)


def test_maftp_checkpoint_converts_and_transfer_reaches_only_the_out_vocabulary_classifier():
    state = official_state()
    state.update({f'backbone_t.{k[len("backbone."):]}': v.clone() for k, v in state.items()
                  if k.startswith('backbone.')})
    cdt = MAFTContentTransfer(32, num_heads=2)
    state.update({'cdt.cross_atten.' + k.replace('attn.', 'multihead_attn.', 1)
                  .replace('mlp.', 'MLP.', 1): v for k, v in cdt.state_dict().items()})
    model = build_tiny_official(
        content_transfer=dict(type='MAFTContentTransfer', num_heads=2),
        content_transfer_scope='out_vocabulary', alpha=1.0, beta=1.0, template_set='single')
    model.load_state_dict(convert_fcclip(state), strict=True)
    model.eval()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        encoded = model.encode_images(images)
        text = model.encode_vocabulary(('cat', 'dog', 'sky'))
        plain = model.class_text(text, encoded.res5, in_vocabulary=True)
        adapted = model.class_text(text, encoded.res5)
        probs = model.class_probabilities({'res5': encoded.res5}, encoded.class_embeds,
                                          encoded.mask_logits, text)
        out_logits, _ = model.out_vocabulary_logits(encoded.res5, encoded.mask_logits,
                                                    adapted, text)
        in_logits = model.in_vocabulary_logits(encoded.class_embeds, plain, text)
    assert torch.equal(plain[0], text.embeddings)
    assert not torch.allclose(adapted, plain)
    p_void = in_logits.softmax(-1)[..., -1:]
    expected = torch.cat([out_logits.softmax(-1) * (1 - p_void), p_void], -1) + 1e-8
    torch.testing.assert_close(probs, expected / expected.sum(-1, keepdim=True), atol=1e-6,
                               rtol=1e-5)
