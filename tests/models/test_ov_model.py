from __future__ import annotations

import pytest
import torch
from mmengine.structures import PixelData

from ovperception.models.segmentation import AdaptedSimilarityHead
from ovperception.structures import OVDataSample
from tests.toy_models import ToyBackbone, toy_model


def _batch(shapes_and_vocabs, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for (height, width), vocab in shapes_and_vocabs:
        inputs.append(torch.randint(0, 256, (3, height, width), generator=generator,
                                    dtype=torch.uint8))
        samples.append(OVDataSample(metainfo=dict(classnames=vocab, ori_shape=(height, width))))
    return dict(inputs=inputs, data_samples=samples)


def _predict(model, batch):
    return model.test_step(batch)


def test_batch_of_mixed_sizes_and_vocabularies_equals_one_by_one():
    model = toy_model()
    spec = [((30, 41), ['cat', 'dog; puppy']), ((20, 16), ['grass', 'sky', 'road']),
            ((30, 41), ['cat', 'dog; puppy'])]
    batched = _predict(model, _batch(spec))
    singles = []
    full = _batch(spec)
    for index in range(len(spec)):
        one = dict(inputs=[full['inputs'][index]], data_samples=[
            OVDataSample(metainfo=dict(full['data_samples'][index].metainfo))])
        singles.append(_predict(model, one)[0])
    for got, expected, (shape, vocab) in zip(batched, singles, spec):
        assert got.pred_sem_seg.data.shape == (1, *shape)
        assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data)
        assert got.metainfo['label_names'] == [v.split(';')[0].strip() for v in vocab]


def test_text_embeddings_are_computed_once_per_name():
    backbone = ToyBackbone()
    model = toy_model(backbone=backbone)
    spec = [((16, 16), ['cat', 'dog']), ((16, 16), ['dog', 'bird'])]
    _predict(model, _batch(spec))
    _predict(model, _batch(spec))
    encoded = [prompt for call in backbone.text_calls for prompt in call]
    assert sorted(encoded) == ['a photo of a bird.', 'a photo of a cat.', 'a photo of a dog.']


def test_resize_back_to_original_shape():
    model = toy_model()
    batch = _batch([((24, 32), ['a', 'b'])])
    batch['data_samples'][0].set_metainfo(dict(ori_shape=(48, 64)))
    out = _predict(model, batch)[0]
    assert out.pred_sem_seg.data.shape == (1, 48, 64)


def test_predictor_style_reuse_of_image_features():
    model = toy_model()
    data = model.data_preprocessor(_batch([((20, 28), ['x'])]))
    encoded = model.encode_images(data['inputs'], data['data_samples'])
    first = model.decode(encoded, [OVDataSample(metainfo=dict(classnames=['a', 'b']))])[0]
    second = model.decode(encoded, [OVDataSample(metainfo=dict(classnames=['c', 'd', 'e']))])[0]
    assert first.metainfo['label_names'] == ['a', 'b']
    assert second.metainfo['label_names'] == ['c', 'd', 'e']
    assert int(second.pred_sem_seg.data.max()) <= 2


def test_training_free_model_refuses_to_train():
    model = toy_model()
    data = model.data_preprocessor(_batch([((16, 16), ['a', 'b'])]), training=True)
    with pytest.raises(RuntimeError, match='training-free'):
        model(**data, mode='loss')


def test_trainable_head_loss_and_frozen_backbone_gets_no_gradient():
    backbone = ToyBackbone()
    model = toy_model(backbone=backbone, head=AdaptedSimilarityHead(8, hidden_channels=4))
    batch = _batch([((16, 16), ['a', 'b']), ((16, 16), ['c', 'd'])])
    for sample in batch['data_samples']:
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 2, (1, 16, 16)))
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    losses['loss_seg'].backward()
    assert torch.isfinite(losses['loss_seg'])
    assert all(p.grad is not None for p in model.head.parameters())
    assert all(p.grad is None for p in backbone.parameters())


def test_tensor_mode_and_errors():
    model = toy_model()
    data = model.data_preprocessor(_batch([((16, 20), ['a', 'b', 'c'])]))
    out = model(**data, mode='tensor')
    assert out.shape == (1, 3, 4, 5)
    mixed = model.data_preprocessor(_batch([((16, 16), ['a']), ((16, 16), ['b'])]))
    with pytest.raises(ValueError, match='one vocabulary'):
        model(**mixed, mode='tensor')
    with pytest.raises(ValueError, match="mode must be"):
        model(**data, mode='bogus')
    no_vocab = dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)],
                    data_samples=[OVDataSample()])
    with pytest.raises(ValueError, match='no vocabulary'):
        model.test_step(no_vocab)


def test_unknown_test_cfg_key_is_rejected():
    with pytest.raises(ValueError, match='unknown test_cfg'):
        toy_model(test_cfg=dict(mode='slide', crop=3))
    with pytest.raises(ValueError, match="'slide' or 'whole'"):
        toy_model(test_cfg=dict(mode='tiles'))


def test_nan_weights_give_a_clear_error():
    backbone = ToyBackbone()
    with torch.no_grad():
        backbone.proj.weight.fill_(float('nan'))
    model = toy_model(backbone=backbone)
    with pytest.raises(FloatingPointError, match='non-finite'):
        model.test_step(_batch([((16, 16), ['a', 'b'])]))


def test_whole_mode_equals_slide_with_covering_crop():
    whole = toy_model(test_cfg=dict(mode='whole'))
    slide = toy_model(test_cfg=dict(mode='slide', crop_size=64, stride=32))
    batch = _batch([((24, 36), ['a', 'b', 'c'])])
    a = whole.test_step(_batch([((24, 36), ['a', 'b', 'c'])]))[0].pred_sem_seg.data
    b = slide.test_step(batch)[0].pred_sem_seg.data
    assert torch.equal(a, b)


def test_preprocessor_takes_the_backbone_statistics_unless_configured():
    backbone = ToyBackbone()
    backbone.mean, backbone.std = (127.5, 127.5, 127.5), (127.5, 127.5, 127.5)
    model = toy_model(backbone=backbone)
    assert model.data_preprocessor.mean.flatten().tolist() == [127.5] * 3
    explicit = toy_model(backbone=backbone, data_preprocessor=dict(
        type='ovperception.OVDataPreprocessor', mean=(1.0, 2.0, 3.0), std=(1.0, 1.0, 1.0)))
    assert explicit.data_preprocessor.mean.flatten().tolist() == [1.0, 2.0, 3.0]
