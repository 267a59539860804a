"""F-ViT's training losses (RPN, RoI classification over vocabulary + background, boxes,
masks) on synthetic shapes, and its one-line errors for bad settings."""
from __future__ import annotations

import pytest
import torch
from mmengine.registry import init_default_scope

from ovperception.datasets.detection_transforms import PackOVDetInputs
from ovperception.datasets.synthetic_detection import SyntheticDetDataset
from ovperception.registry import MODELS
from tests.tiny_detection import TINY


@pytest.fixture(scope='module')
def batch():
    dataset = SyntheticDetDataset(num_samples=2, image_size=(64, 96), seed=3,
                                  pipeline=[PackOVDetInputs()])
    return dict(inputs=[dataset[i]['inputs'] for i in range(2)],
                data_samples=[dataset[i]['data_samples'] for i in range(2)])


def build(**overrides):
    init_default_scope('ovperception')
    torch.manual_seed(0)
    return MODELS.build(dict(TINY['FViT'], **overrides))


def test_losses_fall_and_reach_every_trainable_head(batch):
    rpn = dict(TINY['FViT']['rpn_head'], scales=[4], train_cfg=dict(nms_pre=200, max_per_img=64))
    model = build(rpn_head=rpn, train_cfg=dict(num=64))
    model.train()
    data = model.data_preprocessor(batch, training=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    history = []
    for step in range(6):
        losses = model(**data, mode='loss')
        assert set(losses) == {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
                               'loss_mask'}
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        if step == 0:
            for name in ('neck', 'rpn_head', 'box_head', 'mask_head'):
                grads = [p.grad for p in getattr(model, name).parameters()]
                assert any(g is not None and g.abs().sum() > 0 for g in grads), name
            assert all(p.grad is None for p in model.backbone.parameters())
        optimizer.step()
        history.append(float(total.detach()))
    assert history[-1] < 0.8 * history[0], history
    assert not model.backbone.training  # the frozen CLIP stays in eval mode


def test_predictions_are_instances_with_masks_at_the_original_size(batch):
    model = build().eval()
    data = model.data_preprocessor(batch)
    with torch.no_grad():
        out = model(**data, mode='predict')
    for sample in out:
        pred = sample.pred_instances
        assert pred.masks.shape[1:] == tuple(sample.metainfo['ori_shape'][:2])
        assert len(pred.bboxes) == len(pred.scores) == len(pred.labels) == len(pred.masks)
        assert sample.metainfo['label_names'] == list(sample.metainfo['classnames'])


def test_bad_settings_fail_with_one_line_errors(batch, tmp_path):
    with pytest.raises(ValueError, match='unknown test_cfg keys'):
        build(test_cfg=dict(score_threshold=0.1))
    with pytest.raises(ValueError, match='4 blocks'):
        build(out_indices=[0, 1])
    with pytest.raises(FileNotFoundError, match='class_embeddings'):
        build(class_embeddings=str(tmp_path / 'missing.pt'))
    bad = tmp_path / 'bad.pt'
    torch.save({'cat': torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match=r'\(32,\) tensor'):
        build(class_embeddings=str(bad))
    model = build(test_cfg=dict(pad_to=32)).eval()
    data = model.data_preprocessor(batch)
    with pytest.raises(ValueError, match='larger than pad_to=32'):
        model(**data, mode='predict')


def test_released_class_embeddings_replace_the_text_rows(batch, tmp_path):
    model = build().eval()
    names = list(batch['data_samples'][0].metainfo['classnames'])
    released = {names[0].replace(' ', '_').upper(): torch.ones(32),
                'background': torch.arange(32.0)}
    path = tmp_path / 'embeddings.pt'
    torch.save(released, path)
    with_file = build(class_embeddings=str(path)).eval()
    text = model.encode_vocabulary(names)
    plain = model.class_embeddings(text)
    replaced = with_file.class_embeddings(with_file.encode_vocabulary(names))
    assert torch.allclose(replaced[0], torch.ones(32) / 32 ** 0.5)
    assert torch.allclose(replaced[1:-1], plain[1:-1])
    assert torch.allclose(replaced[-1], torch.nn.functional.normalize(torch.arange(32.0), dim=0))
