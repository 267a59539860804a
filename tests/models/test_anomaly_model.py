"""OVAnomalyModel with WinCLIP / AnomalyCLIP heads on a tiny random CLIP."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.dataset.utils import pseudo_collate

from ovperception.datasets.synthetic_anomaly import SyntheticAnomalyDataset
from ovperception.evaluation.anomaly import pixel_auroc
from ovperception.models.anomaly import dice_loss, focal_loss
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from tests.tiny_anomaly import TINY_ANOMALY_BACKBONE, TINY_ANOMALYCLIP_HEAD, TINY_WINCLIP_HEAD

PIPELINE = [dict(type='ovperception.LoadImageFromFile'), dict(type='ovperception.LoadAnomalyMask'),
            dict(type='ovperception.PackAnomalyInputs')]


def _model(head: dict, **kwargs):
    return MODELS.build(dict(type='OVAnomalyModel', backbone=TINY_ANOMALY_BACKBONE, head=head,
                             **kwargs))


def _batch(model, dataset, indices):
    data = pseudo_collate([dataset[i] for i in indices])
    return model.data_preprocessor(data, False)


def test_winclip_predicts_maps_scores_and_verdicts_batch_independent():
    model = _model(TINY_WINCLIP_HEAD, anomaly_threshold=0.5)
    dataset = SyntheticAnomalyDataset(num_samples=3, pipeline=PIPELINE)
    data = _batch(model, dataset, [0, 1, 2])
    samples = model.predict(data['inputs'], data['data_samples'])
    for sample in samples:
        amap = sample.pred_anomaly_map.data
        assert amap.shape == (1, 64, 64) and 0 <= amap.min() and amap.max() <= 1
        assert 0 <= float(sample.pred_score) <= 1
        assert sample.metainfo['is_anomalous'] == (float(sample.pred_score) >= 0.5)
    single = _batch(model, dataset, [1])
    alone = model.predict(single['inputs'], single['data_samples'])[0]
    torch.testing.assert_close(alone.pred_anomaly_map.data, samples[1].pred_anomaly_map.data,
                               atol=1e-5, rtol=1e-4)


def test_state_text_is_encoded_once_per_object():
    model = _model(dict(TINY_WINCLIP_HEAD, template_set='winclip'))
    first = model.encode_vocabulary(['screw'])
    model.encode_vocabulary(['screw'])
    model.encode_vocabulary(['bottle; flask'])
    normal_cache, anomalous_cache = model.head._caches[(model.backbone.weights_id, 'object')]
    assert normal_cache.num_encoded_names == 2 and anomalous_cache.num_encoded_names == 2
    assert len(normal_cache.templates) == 147 and first.shape == (2, 32)


def test_mixed_objects_in_a_batch_use_their_own_prompts():
    model = _model(TINY_WINCLIP_HEAD)
    images = torch.randn(2, 3, 64, 64)
    same = [OVDataSample(metainfo=dict(classnames=['screw'])) for _ in range(2)]
    mixed = [OVDataSample(metainfo=dict(classnames=['screw'])),
             OVDataSample(metainfo=dict(classnames=['carpet']))]
    a = model.predict(images, same)
    b = model.predict(images, mixed)
    torch.testing.assert_close(a[0].pred_score, b[0].pred_score)
    assert not torch.allclose(a[1].pred_score, b[1].pred_score)
    with pytest.raises(ValueError, match='no object name'):
        model.predict(images, [OVDataSample(), OVDataSample()])


def test_few_shot_memory_lowers_scores_of_the_reference_image():
    model = _model(TINY_WINCLIP_HEAD)
    images = torch.randn(2, 3, 64, 64)
    samples = [OVDataSample(metainfo=dict(classnames=['fabric'])) for _ in range(2)]
    zero_shot = [s.pred_anomaly_map.data.clone() for s in model.predict(images, samples)]
    model.set_normal_references(images[:1])
    few_shot = model.predict(images, samples)
    # the memorised image has few-shot distance 0: its map is exactly half the zero-shot one
    torch.testing.assert_close(few_shot[0].pred_anomaly_map.data, zero_shot[0] / 2,
                               atol=1e-5, rtol=1e-4)
    assert float(few_shot[1].pred_anomaly_map.data.mean()) > float(
        few_shot[0].pred_anomaly_map.data.mean())
    model.head.clear_memory()
    with pytest.raises(RuntimeError, match='training-free'):
        model.loss(images, samples)


def test_focal_and_dice_known_answers():
    probs = torch.tensor([[[[0.5]], [[0.5]]]])
    target = torch.tensor([[[1]]])
    torch.testing.assert_close(focal_loss(probs, target), torch.tensor(0.25 * np.log(2),
                                                                        dtype=torch.float32))
    perfect = torch.tensor([[[1.0, 0.0]]])
    torch.testing.assert_close(dice_loss(perfect, perfect), torch.tensor(0.0))
    torch.testing.assert_close(dice_loss(torch.zeros(1, 1, 2), perfect), torch.tensor(0.5))


def _pixel_auroc(model, data) -> float:
    samples = model.predict(data['inputs'], data['data_samples'])
    maps = np.stack([s.pred_anomaly_map.data[0].numpy() for s in samples])
    masks = np.stack([s.gt_anomaly_map.data[0].numpy() > 0.5 for s in samples])
    return pixel_auroc(masks, maps)


def test_anomalyclip_prompt_training_reduces_loss_and_separates_anomalies():
    torch.manual_seed(0)
    model = _model(TINY_ANOMALYCLIP_HEAD)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ['head.anomalous_ctx', 'head.deep_prompts', 'head.normal_ctx']
    train = SyntheticAnomalyDataset(num_samples=32, seed=0, pipeline=PIPELINE)
    test = SyntheticAnomalyDataset(num_samples=16, seed=1000, pipeline=PIPELINE)
    test_data = _batch(model, test, range(16))
    batches = [_batch(model, train, range(i * 8, i * 8 + 8)) for i in range(4)]
    before = _pixel_auroc(model, test_data)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for step in range(20):
        data = batches[step % 4]
        loss = sum(model.loss(data['inputs'], data['data_samples']).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.3, losses
    after = _pixel_auroc(model, test_data)
    assert before < 0.6 and after > 0.75, (before, after)  # chance is 0.5 (measured 0.48 -> 0.85)


def test_anomalyclip_text_is_memoised_until_the_prompts_change():
    model = _model(TINY_ANOMALYCLIP_HEAD)
    with torch.no_grad():
        first = model.head.text_embeddings(model.backbone)
        assert model.head.text_embeddings(model.backbone) is first
        model.head.normal_ctx.add_(0.5)
        second = model.head.text_embeddings(model.backbone)
    assert second is not first and not torch.allclose(second, first)
    assert model.head.text_embeddings(model.backbone).requires_grad  # training: recomputed


def test_winclip_without_patch_scale_skips_the_dense_pass_until_few_shot(monkeypatch):
    model = _model(dict(TINY_WINCLIP_HEAD, use_patch_scale=False))
    images = torch.randn(1, 3, 64, 64)
    samples = [OVDataSample(metainfo=dict(classnames=['fabric']))]
    calls = []
    one_pass = model.backbone.global_and_dense_features
    monkeypatch.setattr(model.backbone, 'global_and_dense_features',
                        lambda *a: calls.append(1) or one_pass(*a))
    assert model.predict(images, samples)[0].pred_anomaly_map.data.shape == (1, 64, 64)
    assert not calls
    model.set_normal_references(images)
    model.predict(images, samples)
    assert len(calls) == 2  # references + the image scored against them
    encoded_before = model.head.encode(model.backbone, images, with_patches=False)
    with pytest.raises(ValueError, match='encode them again'):
        model.head.score(encoded_before, model.encode_vocabulary(['fabric']))


def test_per_object_memory_applies_only_to_that_objects_images():
    model = _model(TINY_WINCLIP_HEAD)
    images = torch.randn(2, 3, 64, 64)
    samples = [OVDataSample(metainfo=dict(classnames=[name])) for name in ('fabric', 'screw')]
    zero_shot = [s.pred_anomaly_map.data.clone() for s in model.predict(images, samples)]
    cable = [OVDataSample(metainfo=dict(classnames=['cable']))]
    zero_cable = model.predict(images[:1], cable)[0].pred_anomaly_map.data.clone()
    # fabric remembers image 0, screw remembers image 1: each memorised -> exactly half
    model.set_normal_references(images[:1], 'fabric')
    model.set_normal_references(images[1:], 'screw')
    few_shot = model.predict(images, [OVDataSample(metainfo=dict(classnames=[name]))
                                      for name in ('fabric', 'screw')])
    for index in range(2):
        torch.testing.assert_close(few_shot[index].pred_anomaly_map.data,
                                   zero_shot[index] / 2, atol=1e-5, rtol=1e-4)
    other = model.predict(images[:1], [OVDataSample(metainfo=dict(classnames=['cable']))])[0]
    torch.testing.assert_close(other.pred_anomaly_map.data, zero_cable)  # no memory: zero-shot
    assert model.head.memory is None  # per-object memories never touch the global one


def test_map_smoothing_matches_the_metric_and_leaves_the_score():
    from scipy import ndimage
    model = _model(TINY_WINCLIP_HEAD)
    images = torch.randn(1, 3, 64, 64)
    raw = model.predict(images, [OVDataSample(metainfo=dict(classnames=['fabric']))])[0]
    model.map_smoothing_sigma = 4.0
    smooth = model.predict(images, [OVDataSample(metainfo=dict(classnames=['fabric']))])[0]
    expected = ndimage.gaussian_filter(raw.pred_anomaly_map.data[0].numpy(), sigma=4.0)
    np.testing.assert_allclose(smooth.pred_anomaly_map.data[0].numpy(), expected, atol=1e-6)
    assert float(smooth.pred_anomaly_map.data.std()) < float(raw.pred_anomaly_map.data.std())
    torch.testing.assert_close(smooth.pred_score, raw.pred_score)
    with pytest.raises(ValueError, match='map_smoothing_sigma'):
        _model(TINY_WINCLIP_HEAD, map_smoothing_sigma=-1.0)
