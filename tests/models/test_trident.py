"""Trident: SAM-affinity aggregation (parity with the formula), TridentHead inside OVModel."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models.inference import sliding_windows
from ovperception.models.refiners.sam import SAMWrapper
from ovperception.models.refiners.sam_affinity import (SAMAffinityAggregation, resample_qkv,
                                                       sam_affinity)
from ovperception.models.stitched import StitchedWindows
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from tests.tiny import TINY_BACKBONE
from tests.tiny_sam import TINY_SAM


def naive_affinity(q, k, v, scale, cos_factor, cos_cap):
    """The formula of sam_affinity's module docstring, one entry at a time."""
    heads, num, dim = q.shape
    weights = [[0.0] * num for _ in range(num)]
    for h in range(heads):
        for i in range(num):
            logits = [scale * sum(float(q[h, i, d] * k[h, j, d]) for d in range(dim))
                      for j in range(num)]
            top = max(logits)
            total = sum(math.exp(x - top) for x in logits)
            norms = [math.sqrt(sum(float(v[h, j, d]) ** 2 for d in range(dim)))
                     for j in range(num)]
            cosines = [sum(float(v[h, i, d] * v[h, j, d]) for d in range(dim))
                       / (norms[i] * norms[j]) for j in range(num)]
            threshold = min(cos_factor * sum(cosines) / num, cos_cap)
            for j in range(num):
                if cosines[j] > threshold:
                    weights[i][j] += math.exp(logits[j] - top) / total / heads
    return torch.tensor([[w / sum(row) for w in row] for row in weights], dtype=torch.float64)


@pytest.mark.parametrize('cos_factor,cos_cap', [(1.2, 0.9), (0.5, 0.3), (3.0, 0.99)])
def test_affinity_matches_naive_formula(cos_factor: float, cos_cap: float) -> None:
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 7, 4, generator=generator, dtype=torch.float64) for _ in range(3))
    fast = sam_affinity(q, k, v, 0.5, cos_factor, cos_cap)
    torch.testing.assert_close(fast, naive_affinity(q, k, v, 0.5, cos_factor, cos_cap))
    torch.testing.assert_close(fast.sum(dim=1), torch.ones(7, dtype=torch.float64))


def test_affinity_known_answers() -> None:
    q, k = torch.randn(2, 5, 5), torch.randn(2, 5, 5)
    # Orthogonal values: only a token itself passes the threshold -> identity.
    identity = torch.eye(5).expand(2, 5, 5)
    torch.testing.assert_close(sam_affinity(q, k, identity, 1.0), torch.eye(5))
    # Equal values: every cosine is 1 > cap -> the head-averaged attention itself.
    same = torch.ones(2, 5, 5)
    attention = torch.softmax(q @ k.transpose(1, 2), dim=-1).mean(0)
    torch.testing.assert_close(sam_affinity(q, k, same, 1.0), attention)
    with pytest.raises(ValueError, match='cos_cap'):
        sam_affinity(q, k, same, 1.0, cos_cap=1.0)


def test_resample_qkv_layout() -> None:
    qkv = torch.arange(3 * 2 * 2 * 3 * 4, dtype=torch.float32).reshape(3, 2, 2, 3, 4)
    same = resample_qkv(qkv, (2, 3))
    assert same.shape == (3, 2, 6, 4)
    # token (y=1, x=2) of head 1's keys keeps its channel vector.
    torch.testing.assert_close(same[1, 1, 1 * 3 + 2], qkv[1, 1, 1, 2])
    assert resample_qkv(qkv, (4, 5)).shape == (3, 2, 20, 4)


@pytest.fixture(scope='module')
def sam() -> SAMWrapper:
    torch.manual_seed(0)
    return SAMWrapper('tiny')


def test_aggregation_identity_and_shapes(sam: SAMWrapper) -> None:
    aggregation = SAMAffinityAggregation(sam, grid_stride=16)
    image = torch.rand(1, 3, 48, 80) * 255
    state = sam.set_image(image[0], keep_qkv=True)
    assert state.last_qkv.shape == (3, 2, 3, 4, 16)  # 48x80 -> 38x64 SAM input -> 3x4 tokens
    # Scores constant over the image stay constant (rows sum to one).
    constant = torch.ones(1, 4, 48, 80) * torch.tensor([0.1, 0.2, 0.3, 0.4])[None, :, None, None]
    torch.testing.assert_close(aggregation(image, constant), constant)
    scores = torch.randn(1, 4, 48, 80)
    out = aggregation(image, scores)
    assert out.shape == scores.shape and not torch.allclose(out, scores)
    # On the grid, the result is the affinity applied to the pooled scores.
    affinity = aggregation.affinity(state, (3, 5))
    pooled = torch.nn.functional.adaptive_avg_pool2d(scores, (3, 5)).flatten(2)
    expected = (pooled @ affinity.T).reshape(1, 4, 3, 5)
    grid_out = aggregation.aggregate(scores, state)
    torch.testing.assert_close(torch.nn.functional.adaptive_avg_pool2d(grid_out, (3, 5)),
                               torch.nn.functional.adaptive_avg_pool2d(
                                   torch.nn.functional.interpolate(expected, size=(48, 80),
                                                                   mode='bilinear'), (3, 5)))
    with pytest.raises(ValueError, match='keep_qkv'):
        aggregation.aggregate(scores, sam.set_image(image[0]))


def test_set_image_cache_reuses_the_encoding(sam: SAMWrapper) -> None:
    calls = []
    handle = sam.model.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        image = torch.rand(3, 30, 40) * 255
        first = sam.set_image(image, original_size=(60, 80), keep_qkv=True)
        again = sam.set_image(image.clone(), original_size=(60, 80), keep_qkv=True)
        assert again is first and len(calls) == 1
        sam.set_image(image + 1, original_size=(60, 80), keep_qkv=True)
        assert len(calls) == 2
    finally:
        handle.remove()
    # Prompts and masks live in the declared original frame.
    masks = sam.predict(first, boxes=torch.tensor([[0.0, 0.0, 40.0, 30.0]]))
    assert masks.masks.shape == (1, 1, 60, 80)


def naive_token_splice(outputs, windows, size, stride):
    """Windows aligned to the stride: each window's tokens added at their own grid cells."""
    grid = (-(-size[0] // stride), -(-size[1] // stride))
    total = torch.zeros(outputs.shape[1], *grid, dtype=outputs.dtype)
    count = torch.zeros(grid, dtype=outputs.dtype)
    for output, (y0, x0, y1, x1) in zip(outputs, windows):
        assert y0 % stride == 0 and x0 % stride == 0
        for r in range(-(-(y1 - y0) // stride)):
            for c in range(-(-(x1 - x0) // stride)):
                total[:, y0 // stride + r, x0 // stride + c] += output[:, r, c]
                count[y0 // stride + r, x0 // stride + c] += 1
    return total / count


def test_token_grid_splice() -> None:
    torch.manual_seed(0)
    size = (96, 128)  # every window offset a multiple of 16
    windows = sliding_windows(*size, 48, 32)
    outputs = torch.randn(len(windows), 5, 3, 3, dtype=torch.float64)
    stitched = StitchedWindows(outputs, windows, size, 16)
    torch.testing.assert_close(stitched.on_grid(16),
                               naive_token_splice(outputs, windows, size, 16))
    # Unaligned last windows: still a weighted mean of window tokens (constants stay).
    windows = sliding_windows(70, 113, 48, 32)
    constant = torch.full((len(windows), 2, 3, 3), 0.7, dtype=torch.float64)
    grid = StitchedWindows(constant, windows, (70, 113), 16).on_grid(16)
    assert grid.shape == (2, 5, 8)
    torch.testing.assert_close(grid, torch.full_like(grid, 0.7))
    # A dense map (one window, no stride): bilinear samples at the cell centres.
    dense = torch.randn(4, 32, 48, dtype=torch.float64)
    expected = torch.nn.functional.interpolate(dense[None], size=(2, 3), mode='bilinear',
                                               align_corners=False)[0]
    torch.testing.assert_close(StitchedWindows.from_dense(dense).on_grid(16), expected)


def naive_feature_aggregation(features, affinity, text):
    """Trident's splice-then-segment on the grid, one entry at a time.

    features (C, n), affinity (n, n), text (N, C) -> (N, n): t_n . g_i / |g_i|,
    g_i = sum_j A_ij f_j.
    """
    channels, num = features.shape
    out = torch.zeros(text.shape[0], num, dtype=torch.float64)
    for i in range(num):
        g = [sum(float(affinity[i, j]) * float(features[c, j]) for j in range(num))
             for c in range(channels)]
        norm = math.sqrt(sum(x * x for x in g))
        for n in range(text.shape[0]):
            out[n, i] = sum(float(text[n, c]) * g[c] for c in range(channels)) / norm
    return out


def tiny_trident_head(aggregate_on: str, sam: SAMWrapper):
    return MODELS.build(dict(type='TridentHead', sam=sam, logit_scale=40.0,
                             aggregation=dict(grid_stride=16), aggregate_on=aggregate_on))


def test_feature_aggregation_matches_naive_formula(sam: SAMWrapper) -> None:
    torch.manual_seed(1)
    head = tiny_trident_head('features', sam)
    size = (80, 112)  # window offsets are multiples of the stride: Trident's token splice
    windows = sliding_windows(*size, 48, 32)
    feats = torch.randn(len(windows), 8, 3, 3)
    text = SimpleNamespace(embeddings=torch.nn.functional.normalize(torch.randn(3, 8), dim=1))
    image = torch.rand(3, *size) * 255
    state = sam.set_image(image, keep_qkv=True)
    stitched = StitchedWindows(head(feats, text), windows, size, 16)
    cosine = head.aggregated_cosine(stitched, text, state)
    grid = head.aggregation.grid_size(size)
    assert grid == (5, 7) and cosine.shape == (3, *size)
    spliced = naive_token_splice(torch.nn.functional.normalize(feats, dim=1), windows, size, 16)
    expected = naive_feature_aggregation(spliced.flatten(1),
                                         head.aggregation.affinity(state, grid), text.embeddings)
    torch.testing.assert_close(cosine.outputs[0].flatten(1).double(), expected,
                               rtol=1e-4, atol=1e-5)
    # Score-level aggregation is the same without the re-normalisation (linearity).
    scores_head = tiny_trident_head('scores', sam)
    score_maps = StitchedWindows(scores_head(feats, text), windows, size, 16)
    by_scores = scores_head.aggregated_cosine(score_maps, text, state).dense()
    norms = head.aggregation.aggregate_grid(spliced[None], state)[0].norm(dim=0)
    assert not torch.allclose(norms, torch.ones_like(norms))
    rescaled = torch.nn.functional.interpolate((cosine.outputs[0] * norms)[None], size=size,
                                               mode='bilinear', align_corners=False)[0]
    torch.testing.assert_close(by_scores, rescaled, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cosine.dense(), torch.nn.functional.interpolate(
        cosine.outputs, size=size, mode='bilinear', align_corners=False)[0])
    assert head(feats, text).shape == (len(windows), 8, 3, 3)
    assert scores_head(feats, text).shape == (len(windows), 3, 3, 3)
    with pytest.raises(ValueError, match='aggregate_on'):
        tiny_trident_head('logits', sam)


def tiny_trident_model(sam_refine: dict | None, aggregate_on: str = 'features'
                       ) -> torch.nn.Module:
    return MODELS.build(dict(
        type='OVModel', backbone=TINY_BACKBONE, template_set='single',
        head=dict(type='TridentHead', sam=TINY_SAM, logit_scale=40.0, return_logits=True,
                  aggregation=dict(grid_stride=16), sam_refine=sam_refine,
                  aggregate_on=aggregate_on),
        test_cfg=dict(mode='slide', crop_size=64, stride=32)))


@pytest.mark.parametrize('aggregate_on', ['features', 'scores'])
def test_trident_head_in_ov_model_encodes_sam_once_per_image(aggregate_on: str) -> None:
    torch.manual_seed(0)
    model = tiny_trident_model(dict(min_area=4, iou_threshold=-1e9, num_points=2),
                               aggregate_on).eval()
    calls = []
    model.head.sam.model.image_encoder.register_forward_hook(lambda *args: calls.append(1))
    inputs = torch.randn(2, 3, 64, 112)  # 5 windows per image
    samples = [OVDataSample(metainfo=dict(classnames=['cat', 'dog', 'grass'], img_shape=(64, 112),
                                          ori_shape=(100, 170))) for _ in range(2)]
    samples[1].set_metainfo(dict(img_shape=(48, 96), ori_shape=(48, 96)))
    out = model.predict(inputs, samples)
    assert len(calls) == 2  # once per image, not per window
    assert out[0].pred_sem_seg.data.shape == (1, 100, 170)
    assert out[1].pred_sem_seg.data.shape == (1, 48, 96)
    assert out[0].seg_logits.data.shape == (3, 64, 112)
    assert out[0].label_names == ['cat', 'dog', 'grass']


def test_trident_refinement_changes_the_aggregated_labels() -> None:
    torch.manual_seed(0)
    inputs = torch.randn(1, 3, 64, 96)
    sample = dict(classnames=['cat', 'dog', 'grass'], img_shape=(64, 96), ori_shape=(64, 96))
    plain = tiny_trident_model(None).eval()
    refined = tiny_trident_model(dict(min_area=4, iou_threshold=-1e9)).eval()
    refined.load_state_dict(plain.state_dict())
    a = plain.predict(inputs, [OVDataSample(metainfo=sample)])[0].pred_sem_seg.data
    b = refined.predict(inputs, [OVDataSample(metainfo=sample)])[0].pred_sem_seg.data
    assert a.shape == b.shape and not torch.equal(a, b)


def test_trident_head_needs_images() -> None:
    head = MODELS.build(dict(type='TridentHead', sam=TINY_SAM))
    sample = OVDataSample(metainfo=dict(ori_shape=(8, 8)))
    sample.pred_sem_seg = PixelData(data=torch.zeros(1, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match='one image per output'):
        head.predict([torch.zeros(2, 8, 8)], None, [sample])
