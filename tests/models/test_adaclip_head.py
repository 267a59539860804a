"""AdaCLIPHead's checks and options on a tiny random CLIP (parity: test_adaclip_parity.py)."""
from __future__ import annotations

import pytest
import torch

from ovperception.models.anomaly import AdaCLIPHead
from ovperception.models.anomaly.hybrid_fusion import hybrid_semantic_embedding
from ovperception.registry import MODELS
from tests.tiny_anomaly import TINY, TINY_ANOMALY_BACKBONE

pytest.importorskip('sklearn', reason="AdaCLIP's hybrid semantic fusion needs scikit-learn")


@pytest.fixture(scope='module')
def backbone():
    torch.manual_seed(0)
    return MODELS.build(dict(TINY_ANOMALY_BACKBONE))


def tiny(**kwargs) -> AdaCLIPHead:
    cfg = {k: v for k, v in TINY['AdaCLIPHead'].items() if k != 'type'}
    return AdaCLIPHead(**{**cfg, **kwargs}).eval()


def test_widths_that_do_not_fit_the_backbone_are_named(backbone):
    with pytest.raises(ValueError, match="visual_width"):
        tiny(visual_width=48).encode(backbone, torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match='do not fit a 2-block ViT'):
        tiny(feature_layers=(0, 5)).encode(backbone, torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match='dice_reduction'):
        tiny(dice_reduction='pixel')


def test_maps_at_the_input_size_and_scores_in_0_1_for_every_option(backbone):
    images = torch.randn(2, 3, 64, 96)  # 4x6 grid: fewer patches than the 5 * k kept by HSF
    for options in ({}, dict(use_hsf=False), dict(dynamic_prompts=False),
                    dict(k_clusters=50)):  # more clusters than patches: as many as patches
        head = tiny(**options)
        with torch.no_grad():
            features = head.encode(backbone, images)
            maps, scores = head.score_object(backbone, features, 'screw')
        assert maps.shape == (2, 64, 96) and scores.shape == (2,), options
        assert bool(((maps >= 0) & (maps <= 1)).all()) and bool(((scores >= 0) & (scores <= 1)).all())
    assert not any('generator' in k for k in tiny(dynamic_prompts=False).state_dict())
    with pytest.raises(RuntimeError, match='score_object'):
        head.score(features, torch.zeros(2, 32))


def test_text_depends_on_the_image_and_the_static_text_is_memoised(backbone):
    head = tiny()
    with torch.no_grad():
        features = head.encode(backbone, torch.randn(2, 3, 64, 64))
        texts = head.image_texts(backbone, features, 'screw')
        first = head.text_embeddings(backbone, 'screw')
        assert head.text_embeddings(backbone, 'screw') is first
    assert not torch.allclose(texts[0], texts[1])
    with torch.no_grad():
        head.text_static_prompts.add_(0.1)  # a changed prompt recomputes
        assert head.text_embeddings(backbone, 'screw') is not first


def test_hsf_is_repeatable_per_seed_and_follows_the_most_anomalous_patches():
    generator = torch.Generator().manual_seed(0)
    tokens = [torch.nn.functional.normalize(torch.randn(1, 30, 8, generator=generator), dim=-1)]
    logits = [torch.zeros(1, 30, 2)]
    logits[0][0, :5, 1] = 10.0  # five clearly anomalous patches
    one = hybrid_semantic_embedding(tokens, logits, k_clusters=1)  # keeps the top 5
    expected = torch.nn.functional.normalize(tokens[0][0, :5].mean(0), dim=0)
    torch.testing.assert_close(one[0], expected)
    again = hybrid_semantic_embedding(tokens, logits, k_clusters=3, seed=4)
    torch.testing.assert_close(again, hybrid_semantic_embedding(tokens, logits, 3, seed=4))
