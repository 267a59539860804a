"""The FCCLIP segmentor: losses on every kind of target, prediction, vocabularies, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

from ovperception.models.panoptic.fcclip import seen_class_mask
from ovperception.registry import MODELS
from ovperception.structures import OVDataSample
from ovperception.utils.panoptic import INSTANCE_OFFSET
from tests.tiny_fcclip import TINY

VOCAB = ['sky', 'car; automobile', 'road']


pytestmark = pytest.mark.usefixtures('one_thread')  # many tiny ops: one thread is fastest


@pytest.fixture
def model():
    init_default_scope('ovperception')
    torch.manual_seed(0)
    return MODELS.build(dict(TINY['FCCLIP'], seen_classnames=['sky', 'road']))


def _batch(model, samples, training=True, size=(64, 64)):
    images = [torch.randint(0, 255, (3, *size), dtype=torch.uint8) for _ in samples]
    return model.data_preprocessor(dict(inputs=images, data_samples=samples), training)


def _semantic(vocab=VOCAB, size=(64, 64)):
    sample = OVDataSample(metainfo=dict(classnames=list(vocab)))
    label = torch.zeros(1, *size, dtype=torch.long)
    label[:, size[0] // 2:] = 2
    label[:, 10:20, 10:30] = 1
    sample.gt_sem_seg = PixelData(data=label)
    return sample


def _panoptic():
    sample = OVDataSample(metainfo=dict(classnames=VOCAB, is_thing=[False, True, False]))
    pan = torch.zeros(1, 64, 64, dtype=torch.long)
    pan[:, 5:15, 5:15] = 1 + INSTANCE_OFFSET
    pan[:, 30:40, 30:40] = 1 + 2 * INSTANCE_OFFSET
    pan[:, 60:] = -1
    sample.gt_panoptic_seg = PixelData(data=pan)
    return sample


def test_loss_on_semantic_panoptic_and_unannotated_samples(model):
    unannotated = OVDataSample(metainfo=dict(classnames=VOCAB))
    data = _batch(model, [_semantic(), _panoptic(), unannotated])
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert model.mask_decoder.query_feat.weight.grad.abs().sum() > 0
    assert model.void_embedding.grad is not None
    assert all(p.grad is None for p in model.backbone.parameters()), 'CLIP stays frozen'


def test_loss_rejects_labels_outside_the_vocabulary(model):
    data = _batch(model, [_semantic(vocab=['sky', 'car'])])
    with pytest.raises(ValueError, match='outside its vocabulary'):
        model(**data, mode='loss')


def test_predict_fills_every_output_for_mixed_vocabularies(model):
    model.test_cfg.update(instance_on=True, object_mask_threshold=0.0)
    first = OVDataSample(metainfo=dict(classnames=VOCAB, ori_shape=(50, 70)))
    second = OVDataSample(metainfo=dict(classnames=['zebra', 'sky']))  # 'zebra' is unseen
    data = _batch(model, [first, second], training=False, size=(50, 70))
    out = model(**data, mode='predict')
    assert out[0].pred_sem_seg.data.shape == (1, 50, 70)
    assert int(out[1].pred_sem_seg.data.max()) < 2
    assert out[0].metainfo['label_names'] == ['sky', 'car', 'road']
    assert out[1].pred_panoptic_seg.data.shape == (1, 50, 70)
    assert out[1].pred_instances.masks.shape[-2:] == (50, 70)
    assert isinstance(out[0].metainfo['segments_info'], list)


def test_seen_and_unseen_classes_get_alpha_and_beta(model, monkeypatch):
    assert seen_class_mask(['Sky', 'zebra; road', 'car'], model.seen_names).tolist() == [
        True, True, False]
    calls = []
    from ovperception.models.panoptic import fcclip
    real = fcclip.geometric_ensemble

    def spy(in_logits, out_logits, seen, alpha, beta, valid=None):
        calls.append((seen.tolist(), alpha, beta))
        return real(in_logits, out_logits, seen, alpha, beta, valid)

    monkeypatch.setattr(fcclip, 'geometric_ensemble', spy)
    sample = OVDataSample(metainfo=dict(classnames=['zebra', 'sky']))
    model(**_batch(model, [sample], training=False), mode='predict')
    assert calls == [([False, True], 0.4, 0.8)]


def test_vocabulary_text_is_encoded_once(model):
    data = _batch(model, [_semantic(), _semantic()])
    model(**data, mode='loss')
    model(**_batch(model, [_semantic()]), mode='loss')
    assert model.text_cache.num_encoded_names == 4  # sky, car, automobile, road


def test_content_transfer_switch_trains_its_parameters():
    init_default_scope('ovperception')
    model = MODELS.build(dict(TINY['FCCLIP'], content_transfer=dict(
        type='ContentDependentTransfer', num_heads=2)))
    losses = model(**_batch(model, [_semantic()]), mode='loss')
    sum(losses.values()).backward()
    assert model.content_transfer.gamma.grad is not None
    out = model(**_batch(model, [_semantic()], training=False), mode='predict')
    assert out[0].pred_sem_seg.data.shape == (1, 64, 64)


def test_nan_weights_are_reported(model):
    with torch.no_grad():
        model.mask_decoder.mask_embed.layers[0].weight.fill_(float('nan'))
    with pytest.raises(FloatingPointError, match='non-finite'):
        model(**_batch(model, [_semantic()], training=False), mode='predict')


def test_unknown_test_cfg_key_is_rejected():
    init_default_scope('ovperception')
    with pytest.raises(ValueError, match='unknown test_cfg'):
        MODELS.build(dict(TINY['FCCLIP'], test_cfg=dict(panoptic=True)))


def test_predictor_encodes_once_and_answers_many_vocabularies(model):
    from ovperception.apis import OVPredictor
    from ovperception.datasets.transforms import PackOVInputs
    predictor = OVPredictor(model, pipeline=[PackOVInputs()])
    predictor.set_image(np.random.default_rng(0).integers(0, 255, (40, 56, 3), np.uint8))
    cats = predictor.predict('cat, dog; puppy')
    roads = predictor.predict(['road', 'sky', 'car'])
    assert cats.pred_sem_seg.data.shape == (1, 40, 56) == roads.pred_sem_seg.data.shape
    assert cats.metainfo['label_names'] == ['cat', 'dog']
    assert int(roads.pred_sem_seg.data.max()) < 3


def test_published_architecture_builds_around_a_tiny_clip():
    import os

    from mmengine.config import Config
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = Config.fromfile(os.path.join(root, 'configs', '_base_', 'models',
                                       'fcclip_convnext_large.py'))
    assert cfg.model.backbone.model_name == 'convnext_large_d_320'
    assert cfg.model.backbone.pretrained == 'laion2b_s29b_b131k_ft_soup'
    init_default_scope('ovperception')
    cfg.model.backbone = TINY['FCCLIP']['backbone']
    built = MODELS.build(cfg.model)
    assert built.mask_decoder.num_queries == 250 and len(built.mask_decoder.layers) == 9
    assert built.criterion.num_points == 12544 and (built.alpha, built.beta) == (0.4, 0.8)
    assert 'person' in built.seen_names and len(built.seen_names) > 133


@pytest.mark.gpu
def test_amp_training_step_on_gpu():
    """fp16 autocast (what ``--amp`` / AmpOptimWrapper does): finite losses and gradients."""
    init_default_scope('ovperception')
    model = MODELS.build(dict(TINY['FCCLIP'])).cuda()
    data = _batch(model, [_semantic(), _panoptic()])
    with torch.autocast('cuda', dtype=torch.float16):
        losses = model(**data, mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(model.mask_decoder.query_feat.weight.grad).all()
