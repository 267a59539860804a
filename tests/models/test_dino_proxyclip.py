"""ProxyCLIP: proxy attention parity with the paper's formula, grids, OVModel and tools/test.py."""
from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

from ovperception.models import OVModel
from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.segmentation import DenseSimilarityHead
from ovperception.models.refiners.dino import DINOEncoder
from ovperception.models.refiners.proxyclip import (ProxyCLIPBackbone, proxy_affinity,
                                                    proxy_attention, resample_tokens)
from ovperception.structures import OVDataSample
from tests.tiny import TINY_CLIP_KWARGS
from tests.tiny_dino import TINY_DINO_KWARGS
from tests.scripts import test_tool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def naive_proxy_attention(values, proxy, beta, gamma):
    """The paper's formula, one query token at a time (per crop, diagonal always kept)."""
    b, heads, n, dim = values.shape
    out = torch.zeros_like(values)
    for i in range(b):
        feats = [proxy[i, p] / proxy[i, p].norm() for p in range(n)]
        sim = torch.tensor([[float(feats[p] @ feats[q]) for q in range(n)] for p in range(n)])
        mean = sim.sum() / (n * n)
        for p in range(n):
            scores = [gamma * (float(sim[p, q]) - beta * float(mean)) for q in range(n)]
            kept = [q for q in range(n) if scores[q] >= 0 or q == p]
            top = max(scores[q] for q in kept)
            weights = {q: math.exp(scores[q] - top) for q in kept}
            total = sum(weights.values())
            for h in range(heads):
                out[i, h, p] = sum(weights[q] / total * values[i, h, q] for q in kept)
    return out


def test_proxy_attention_matches_the_naive_loop():
    torch.manual_seed(0)
    proxy = torch.randn(2, 12, 5)
    values = torch.randn(2, 3, 12, 4)
    expected = naive_proxy_attention(values, proxy, beta=1.2, gamma=3.0)
    torch.testing.assert_close(proxy_attention(values, proxy, 1.2, 3.0), expected,
                               atol=1e-5, rtol=1e-4)


def test_affinity_masks_dissimilar_pairs_and_rows_sum_to_one():
    proxy = torch.tensor([[[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [-1.0, 0.0]]])
    attn = proxy_affinity(proxy, beta=1.2, gamma=3.0)[0]
    assert torch.allclose(attn.sum(-1), torch.ones(4))
    assert attn[0, 3] == 0 and attn[3, 0] == 0 and attn[0, 1] > 0.3


def test_constant_crop_keeps_finite_self_attention():
    proxy = torch.ones(1, 6, 4)  # every similarity is 1: the paper's mask would drop all
    attn = proxy_affinity(proxy, beta=1.2, gamma=3.0)[0]
    assert torch.isfinite(attn).all() and torch.allclose(attn, torch.eye(6))


def test_resample_tokens_is_bilinear_on_the_grid():
    tokens = torch.arange(6.0).reshape(1, 1, 6, 1)  # 2x3 grid
    out = resample_tokens(tokens, (2, 3), (4, 6))
    grid = F.interpolate(torch.arange(6.0).reshape(1, 1, 2, 3), size=(4, 6), mode='bilinear',
                         align_corners=False)
    torch.testing.assert_close(out.reshape(4, 6), grid[0, 0])


def tiny_clip() -> OpenCLIPBackbone:
    torch.manual_seed(0)
    return OpenCLIPBackbone('ViT-B-16', None, model_kwargs=TINY_CLIP_KWARGS)


def tiny_proxy(arch: str = 'vit_small_patch8_224') -> DINOEncoder:
    torch.manual_seed(1)
    return DINOEncoder(arch, model_kwargs=TINY_DINO_KWARGS)


@pytest.fixture(scope='module')
def backbone() -> ProxyCLIPBackbone:
    return ProxyCLIPBackbone(tiny_clip(), tiny_proxy())


def test_backbone_equals_the_formula_on_clip_values(backbone):
    """Dense features = proj(ln_post(out_proj(A V))) with V resampled to the DINO grid."""
    images = torch.randn(2, 3, 32, 48)
    captured = {}

    def capture(q, k, v, grid):
        captured['v'], captured['grid'] = v, grid
        return v

    backbone.clip.dense_features_with_attention(images, capture)
    proxy, proxy_grid = backbone.proxy_tokens(images)
    values = resample_tokens(captured['v'][:, :, 1:], captured['grid'], proxy_grid)
    attended = naive_proxy_attention(values, proxy, 1.2, 3.0)
    expected = backbone.clip.dense_features_with_attention(
        images, lambda q, k, v, grid: (attended, proxy_grid))
    torch.testing.assert_close(backbone.dense_features(images), expected, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize('size', [(64, 64), (50, 70), (20, 20)])
def test_output_grids_for_different_patch_sizes(backbone, size):
    clip_grid = ProxyCLIPBackbone(backbone.clip, backbone.proxy, output_grid='clip')
    padded = [-(-s // 16) * 16 for s in size]
    assert backbone.patch_size == 8 and clip_grid.patch_size == 16
    out = backbone.dense_features(torch.randn(1, 3, *size))
    assert out.shape == (1, 32, padded[0] // 8, padded[1] // 8)
    out = clip_grid.dense_features(torch.randn(1, 3, *size))
    assert out.shape == (1, 32, padded[0] // 16, padded[1] // 16)


def test_patch14_proxy_pads_to_the_common_multiple():
    backbone = ProxyCLIPBackbone(tiny_clip(), tiny_proxy('vit_small_patch14_dinov2'))
    assert backbone.pad_multiple == 112
    out = backbone.dense_features(torch.randn(1, 3, 50, 120))
    assert out.shape == (1, 32, 8, 16)


def test_same_patch_size_makes_both_grids_identical():
    clip, proxy = tiny_clip(), tiny_proxy('vit_small_patch16_224')
    images = torch.randn(1, 3, 48, 64)
    a = ProxyCLIPBackbone(clip, proxy, output_grid='proxy').dense_features(images)
    b = ProxyCLIPBackbone(clip, proxy, output_grid='clip').dense_features(images)
    torch.testing.assert_close(a, b)


def test_crops_are_independent_of_their_batch(backbone):
    images = torch.randn(3, 3, 32, 32)
    together = backbone.dense_features(images)
    alone = torch.cat([backbone.dense_features(img[None]) for img in images])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_backbone_contract_attributes(backbone):
    assert backbone.weights_id == backbone.clip.weights_id
    assert backbone.mean == backbone.clip.mean and backbone.logit_scale > 0
    assert backbone.encode_text(['a cat', 'a dog']).shape == (2, 32)
    with pytest.raises(ValueError, match='output_grid'):
        ProxyCLIPBackbone(backbone.clip, backbone.proxy, output_grid='dino')


def test_ovmodel_predicts_images_smaller_than_a_crop_and_absent_classes(backbone):
    model = OVModel(backbone, DenseSimilarityHead(logit_scale=40.0), template_set='single',
                    test_cfg=dict(mode='slide', crop_size=64, stride=32))
    samples = [OVDataSample(metainfo=dict(classnames=['cat', 'dog', 'unicorn'])),
               OVDataSample(metainfo=dict(classnames=['cat', 'dog', 'unicorn']))]
    images = [torch.randint(0, 255, (3, 20, 30), dtype=torch.uint8),
              torch.randint(0, 255, (3, 80, 100), dtype=torch.uint8)]
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples))
    out = model.predict(data['inputs'], data['data_samples'])
    assert out[0].pred_sem_seg.data.shape == (1, 20, 30)
    assert out[1].pred_sem_seg.data.shape == (1, 80, 100)
    assert out[0].metainfo['label_names'] == ['cat', 'dog', 'unicorn']


def test_tiny_config_runs_through_the_test_tool(tmp_path):
    metrics = test_tool.main([os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_proxyclip.py'),
                              '--work-dir', str(tmp_path)])
    assert 0.0 <= metrics['mIoU'] <= 100.0
