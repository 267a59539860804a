"""AnomalyDINO computes the PCA foreground masks only where masking uses them."""
from __future__ import annotations

import pytest
import torch

from ovperception.models.anomaly import anomalydino
from ovperception.models.anomaly.anomalydino import AnomalyDINOHead
from ovperception.models.anomaly.foreground import foreground_mask
from ovperception.models.refiners.dino import DINOEncoder


@pytest.fixture(scope='module')
def encoder() -> DINOEncoder:
    torch.manual_seed(0)
    return DINOEncoder('vit_small_patch14_dinov2', pos_embed_resize='bicubic_offset',
                       model_kwargs=dict(embed_dim=32, depth=1, num_heads=2, img_size=56)).eval()


def _counting_masks(monkeypatch) -> list[int]:
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return foreground_mask(*args, **kwargs)
    monkeypatch.setattr(anomalydino, 'foreground_mask', counted)
    return calls


def test_masking_off_never_computes_a_mask(encoder, monkeypatch):
    calls = _counting_masks(monkeypatch)
    head = AnomalyDINOHead(masking=False, rotation=False)
    head.set_memory(head.encode_references(encoder, torch.randn(1, 3, 56, 56)))
    maps, scores = head.score(head.encode(encoder, torch.randn(3, 3, 56, 70)), torch.zeros(0))
    assert maps.shape == (3, 4, 5) and scores.shape == (3,) and calls == []


def test_masking_on_computes_each_mask_once_and_the_same_masks(encoder, monkeypatch):
    images = torch.randn(3, 3, 56, 56)
    head = AnomalyDINOHead(masking=dict(capsule=True, cable=False), rotation=False,
                           mask_threshold=0.5)
    features = head.encode(encoder, images)
    expected = torch.stack([foreground_mask(t, features.grid, 0.5) for t in features.tokens])
    calls = _counting_masks(monkeypatch)
    memory = torch.nn.functional.normalize(torch.randn(20, 32), dim=-1)
    masked = head.patch_distances(features, memory, 'capsule')
    assert len(calls) == 3
    head.patch_distances(features, memory, 'capsule')
    head.patch_distances(features, memory, 'cable')
    assert len(calls) == 3
    assert torch.equal(features.foreground, expected)
    assert torch.equal(masked == 0, ~expected | (masked == 0))
    subset = head.encode(encoder, images).select([2, 0])
    assert torch.equal(subset.foreground, expected[[2, 0]]) and len(calls) == 5
