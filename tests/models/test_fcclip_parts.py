"""FC-CLIP building blocks: ensemble, matcher, losses, inference, backbone multi-scale path."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ovperception.models.clip.open_clip import OpenCLIPBackbone
from ovperception.models.panoptic import (ContentDependentTransfer, FPNPixelDecoder,
                                          MaskTransformerDecoder, MSDeformAttnPixelDecoder)
from ovperception.models.panoptic.ensemble import geometric_ensemble
from ovperception.models.panoptic.mask_decoder import attention_mask_from
from ovperception.models.panoptic.mask_inference import (instance_inference, mask_pool,
                                                      panoptic_inference, semantic_inference)
from ovperception.models.panoptic.set_criterion import MaskSetCriterion, SegmentTargets
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID, semantic_to_panoptic


pytestmark = pytest.mark.usefixtures('one_thread')  # many tiny ops: one thread is fastest


# ------------------------------------------------------------------ ensemble
def naive_ensemble(in_logits, out_logits, seen, alpha, beta, valid):
    """The FC-CLIP formula written per proposal and class with Python floats."""
    result = np.zeros((len(in_logits), len(out_logits[0]) + 1))
    for q, (row_in, row_out) in enumerate(zip(in_logits, out_logits)):
        e_in = [np.exp(v) for v in row_in]
        p_void = e_in[-1] / sum(e_in)
        p_in = [v / sum(e_in[:-1]) for v in e_in[:-1]]
        e_out = [np.exp(v) for v in row_out]
        p_out = [v / sum(e_out) for v in e_out]
        if valid[q]:
            geo = [p_in[k] ** (1 - (alpha if seen[k] else beta))
                   * p_out[k] ** (alpha if seen[k] else beta) for k in range(len(p_in))]
        else:
            geo = p_in
        for k, value in enumerate(geo):
            result[q, k] = value / sum(geo) * (1 - p_void)
        result[q, -1] = p_void
    return result


def test_geometric_ensemble_matches_the_formula():
    gen = torch.Generator().manual_seed(0)
    in_logits, out_logits = torch.randn(5, 4, generator=gen), torch.randn(5, 3, generator=gen)
    seen = torch.tensor([True, False, True])
    valid = torch.tensor([True, True, False, True, True])
    got = geometric_ensemble(in_logits, out_logits, seen, 0.4, 0.8, valid)
    want = naive_ensemble(in_logits.double().numpy(), out_logits.double().numpy(),
                          seen.tolist(), 0.4, 0.8, valid.tolist())
    assert np.allclose(got.numpy(), want, atol=1e-5)
    assert torch.allclose(got.sum(-1), torch.ones(5))


def test_ensemble_weights_zero_and_one_select_one_classifier():
    in_logits, out_logits = torch.tensor([[2.0, 0.0, -9.0]]), torch.tensor([[0.0, 3.0]])
    seen = torch.tensor([True, False])
    only_in = geometric_ensemble(in_logits, out_logits, seen, 0.0, 0.0)
    assert only_in[0, :2].argmax() == 0
    only_out = geometric_ensemble(in_logits, out_logits, seen, 1.0, 1.0)
    assert only_out[0, :2].argmax() == 1
    # the unseen class follows beta: out-of-vocabulary evidence wins only for it
    mixed = geometric_ensemble(in_logits, out_logits, seen, 0.0, 1.0)
    assert mixed[0, 1] > only_in[0, 1]
    with pytest.raises(ValueError, match='void'):
        geometric_ensemble(out_logits, out_logits, seen, 0.4, 0.8)


# ------------------------------------------------------------------ matcher + losses
def test_hungarian_matching_finds_the_permutation():
    masks = torch.zeros(3, 8, 8)
    masks[0, :4], masks[1, 4:], masks[2, :, :4] = 1, 1, 1
    targets = SegmentTargets(torch.tensor([2, 0, 1]), masks)
    order = [2, 0, 1]  # query q predicts target order[q]
    mask_logits = torch.stack([masks[t] * 20 - 10 for t in order])[None]
    class_logits = torch.full((1, 3, 4), -5.0)
    for q, t in enumerate(order):
        class_logits[0, q, targets.labels[t]] = 5.0
    criterion = MaskSetCriterion()
    rows, cols = criterion.match(class_logits[0], mask_logits[0].flatten(1), masks.flatten(1),
                                 targets.labels)
    assert dict(zip(rows.tolist(), cols.tolist())) == dict(enumerate(order))
    perfect = criterion([(class_logits, mask_logits)], [targets])
    wrong = criterion([(class_logits, mask_logits.roll(1, dims=1))], [targets])
    assert perfect['loss_dice'] < 0.01 and perfect['loss_mask'] < 0.01
    assert wrong['loss_cls'] > perfect['loss_cls']


def test_matching_is_optimal_against_brute_force():
    gen = torch.Generator().manual_seed(3)
    class_logits, mask_logits = torch.randn(5, 4, generator=gen), torch.randn(5, 36, generator=gen)
    targets = (torch.rand(3, 36, generator=gen) > 0.5).float()
    labels = torch.tensor([0, 2, 1])
    criterion = MaskSetCriterion()
    rows, cols = criterion.match(class_logits, mask_logits, targets, labels)

    def cost(q, t):
        p = class_logits[q].softmax(-1)[labels[t]]
        logit, goal = mask_logits[q], targets[t]
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, goal)
        prob = logit.sigmoid()
        dice = 1 - (2 * (prob * goal).sum() + 1) / (prob.sum() + goal.sum() + 1)
        return float(-2 * p + 5 * bce + 5 * dice)

    best = min(sum(cost(q, t) for t, q in enumerate(perm))
               for perm in itertools.permutations(range(5), 3))
    got = sum(cost(int(q), int(t)) for q, t in zip(rows, cols))
    assert got == pytest.approx(best, abs=1e-4)


def test_images_without_segments_train_every_query_towards_void():
    criterion = MaskSetCriterion(num_points=16)
    class_logits = torch.zeros(2, 4, 3, requires_grad=True)
    mask_logits = torch.zeros(2, 4, 8, 8, requires_grad=True)
    empty = SegmentTargets(torch.zeros(0, dtype=torch.long), torch.zeros(0, 32, 32))
    losses = criterion([(class_logits, mask_logits)] * 2, [empty, empty])
    assert set(losses) == {'loss_cls', 'loss_mask', 'loss_dice', 'd0.loss_cls', 'd0.loss_mask',
                           'd0.loss_dice'}
    assert losses['loss_mask'].item() == 0.0
    sum(losses.values()).backward()
    assert class_logits.grad[..., -1].lt(0).all(), 'void logits are pushed up'
    with pytest.raises(ValueError, match='outside'):
        criterion([(class_logits, mask_logits)], [SegmentTargets(torch.tensor([5]),
                                                                 torch.ones(1, 8, 8))] * 2)


# ------------------------------------------------------------------ inference
def test_panoptic_inference_merges_stuff_and_numbers_things():
    masks = torch.full((4, 4, 4), -10.0)
    masks[0, :, :2] = 10       # stuff class 0, left
    masks[1, :, 2:] = 10       # stuff class 0 again, right -> merged
    masks[2, :2, 2:] = 20      # thing class 1 on top of the right half
    masks[3] = 10              # void query
    probs = torch.tensor([[0.9, 0.05, 0.05], [0.95, 0.0, 0.05], [0.0, 0.99, 0.01],
                          [0.0, 0.0, 1.0]])
    panoptic, segments = panoptic_inference(probs, masks, is_thing=[False, True],
                                            object_mask_threshold=0.5, overlap_threshold=0.3)
    assert panoptic[0, 0] == 0 and panoptic[3, 3] == 0
    assert panoptic[0, 3] == 1 + INSTANCE_OFFSET
    assert sorted(s['id'] for s in segments) == [0, 1 + INSTANCE_OFFSET]
    assert next(s for s in segments if s['id'] == 0)['area'] == 12
    none, nothing = panoptic_inference(probs[3:], masks[3:])
    assert (none == VOID).all() and nothing == []


def test_semantic_and_instance_inference():
    masks = torch.full((2, 3, 3), -10.0)
    masks[0, 0] = 10
    masks[1, 1:] = 10
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2]])
    labels = semantic_inference(probs, masks).argmax(0)
    assert labels[0].tolist() == [0, 0, 0] and labels[2].tolist() == [1, 1, 1]
    instances = instance_inference(probs, masks, is_thing=[False, True], max_instances=2)
    assert set(instances.labels.tolist()) == {1}, 'stuff classes are not instances'
    assert instances.bboxes[0].tolist() == [0, 1, 3, 3]


def test_mask_pool_averages_under_the_mask_and_flags_empty_masks():
    features = torch.arange(16.0).reshape(1, 1, 4, 4)
    masks = torch.full((1, 2, 4, 4), -5.0)
    masks[0, 0, :2, :2] = 5
    pooled, valid = mask_pool(features, masks)
    assert pooled[0, 0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)
    assert valid.tolist() == [[True, False]] and pooled[0, 1, 0] == 0


def test_attention_mask_never_blocks_a_whole_row():
    logits = torch.full((1, 2, 4, 4), -10.0)
    logits[0, 0, :2] = 10
    blocked = attention_mask_from(logits, (2, 2), num_heads=3)
    assert blocked.shape == (3, 2, 4)
    assert blocked[0, 0].tolist() == [False, False, True, True]
    assert not blocked[:, 1].any(), 'an empty mask attends everywhere'


def test_semantic_to_panoptic_splits_components_of_things():
    label = np.zeros((5, 5), dtype=np.int64)
    label[0, 0] = label[4, 4] = 1
    label[2, 2] = 255
    panoptic = semantic_to_panoptic(label, is_thing=[False, True])
    assert panoptic[0, 0] != panoptic[4, 4] and panoptic[0, 0] % INSTANCE_OFFSET == 1
    assert panoptic[2, 2] == VOID and panoptic[1, 1] == 0


# ------------------------------------------------------------------ backbone + decoders
@pytest.mark.parametrize('kind', ['convnext', 'resnet'])
def test_multiscale_features_and_projection_match_dense_features(kind, tiny_clip_configs):
    name, kwargs = tiny_clip_configs[kind]
    backbone = OpenCLIPBackbone(name, model_kwargs=kwargs)
    images = torch.randn(1, 3, 70, 90)
    feats = backbone.multiscale_features(images)
    assert [tuple(f.shape[-2:]) for f in feats.values()] == [(24, 24), (12, 12), (6, 6), (3, 3)]
    assert [f.shape[1] for f in feats.values()] == list(backbone.stage_channels.values())
    projected = backbone.project_trunk_features(feats['res5'])
    assert torch.allclose(projected, backbone.dense_features(images), atol=1e-5)
    for decoder in (FPNPixelDecoder(backbone.stage_channels, conv_dim=16, mask_dim=16,
                                    num_encoder_layers=1, num_heads=2),
                    MSDeformAttnPixelDecoder(backbone.stage_channels, conv_dim=16, mask_dim=16,
                                             num_encoder_layers=1, num_heads=2, num_groups=8)):
        mask_features, levels = decoder(feats)
        assert mask_features.shape == (1, 16, 24, 24)
        assert [tuple(level.shape[-2:]) for level in levels] == [(3, 3), (6, 6), (12, 12)]
    outputs = MaskTransformerDecoder(16, 16, 32, hidden_dim=16, num_queries=5, num_heads=2,
                                     dim_feedforward=32, num_layers=4)(levels, mask_features)
    assert len(outputs) == 5
    assert outputs[-1][0].shape == (1, 5, 32) and outputs[-1][1].shape == (1, 5, 24, 24)


def test_vit_backbone_has_no_multiscale_path(tiny_clip_configs):
    name, kwargs = tiny_clip_configs['vit']
    with pytest.raises(NotImplementedError, match='ConvNeXt or ResNet'):
        OpenCLIPBackbone(name, model_kwargs=kwargs).multiscale_features(torch.zeros(1, 3, 64, 64))


def test_content_transfer_starts_as_identity_and_depends_on_the_image():
    transfer = ContentDependentTransfer(embed_dim=8, num_heads=2)
    text = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    image = torch.randn(2, 8, 4, 4)
    assert torch.allclose(transfer(text, image), text.expand(2, -1, -1), atol=1e-6)
    with torch.no_grad():
        transfer.gamma.fill_(1.0)
    adapted = transfer(text, image)
    assert adapted.shape == (2, 3, 8) and not torch.allclose(adapted[0], adapted[1])
    assert torch.allclose(adapted.norm(dim=-1), torch.ones(2, 3))


def test_uncertain_points_prefer_mask_boundaries():
    from ovperception.models.panoptic.set_criterion import uncertain_points
    torch.manual_seed(0)
    # the logit grows with the distance to the vertical centre line (the mask boundary)
    xs = (torch.arange(32) + 0.5) / 32
    logits = ((xs - 0.5).abs() * 40).expand(1, 32, 32).contiguous()
    points = uncertain_points(logits, num_points=40)
    assert points.shape == (1, 40, 2)
    distance = (points[0, :, 0] - 0.5).abs()
    # 30 most uncertain of 120 uniform candidates: within ~1/8 of the boundary
    assert distance[:30].max() < 0.2 and distance[:30].mean() < distance[30:].mean()
    criterion = MaskSetCriterion(num_points=40)
    targets = SegmentTargets(torch.tensor([0]), (logits > 5).float())
    losses = criterion([(torch.zeros(1, 2, 2), logits[None])], [targets])
    assert torch.isfinite(losses['loss_mask']) and losses['loss_mask'] > 0
