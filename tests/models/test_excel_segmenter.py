"""ExCEL with a trained segmentation head: known answers and one-line errors (the official
numbers are in test_excel_train_golden.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ovperception.datasets.image_tags import ImageTagsFromMask
from ovperception.datasets.transforms import PackOVInputs
from ovperception.models.segmentation import ExCELModel, ExCELSegHead
from ovperception.models.segmentation.excel_losses import affinity_labels, radius_mask
from ovperception.models.segmentation.excel_segmenter import (flip_max_class_maps,
                                                              msc_flip_logits)
from ovperception.models.segmentation.excel_visual import surgery_forward
from ovperception.structures import OVDataSample
from tests.tiny import TINY_BACKBONE, TINY_CLIP_KWARGS
from ovperception.utils.closed_vocabulary import vocabulary_in_head

CLASSES = ['background', 'cat', 'dog']


def tiny_model(**kwargs) -> ExCELModel:
    backbone = dict(TINY_BACKBONE, pos_embed_resize='bilinear', model_kwargs=dict(
        TINY_CLIP_KWARGS, vision_cfg=dict(image_size=64, patch_size=16, width=64, layers=4,
                                          head_width=32)))
    options = dict(seg_head=dict(type='ExCELSegHead', in_channels=64, num_layers=4,
                                 embed_dim=16, num_classes=3, decoder_layers=1,
                                 decoder_heads=2),
                   head_classes=CLASSES, input_size=64, surgery_blocks=2, affinity_layers=3,
                   excel_background_words=('sky',), segmenter_cfg=dict(size=64,
                                                                       scales=(1.0,)))
    options.update(kwargs)
    return ExCELModel(backbone, **options)


def test_image_tags_from_the_full_mask_reach_the_metainfo():
    labels = np.array([[0, 3, 3], [255, 1, 0]])
    results = ImageTagsFromMask(background_index=0)(dict(
        img=np.zeros((2, 3, 3), np.uint8), gt_seg_map=labels, classnames=['a', 'b', 'c', 'd']))
    assert results['image_tags'] == [1, 3]
    packed = PackOVInputs()(results)
    assert packed['data_samples'].metainfo['image_tags'] == [1, 3]
    assert ImageTagsFromMask(background_index=None)(dict(gt_seg_map=labels))['image_tags'] \
        == [0, 1, 3]
    with pytest.raises(ValueError, match='no gt_seg_map'):
        ImageTagsFromMask()(dict(img=np.zeros((2, 2, 3), np.uint8)))


def test_radius_mask_and_affinity_labels_known_answer():
    mask = radius_mask(2, 3, 1)
    # patch (0, 0) reaches (0, 1), (1, 0), (1, 1) but not (0, 2), (1, 2)
    assert mask[0].tolist() == [True, True, False, True, True, False]
    assert torch.equal(mask, mask.T)
    labels = torch.tensor([[0] * 16 + [1] * 16 + [255] * 16]).repeat(32, 1)[None]  # (1, 32, 48)
    targets = affinity_labels(labels)
    assert targets.shape == (1, 6, 6)
    assert targets[0, 0].tolist() == [1, 0, 255, 1, 0, 255]
    assert (targets[0, :, 2] == 255).all() and targets[0, 0, 0] == 1   # diagonal kept


def test_lvc_changes_only_the_surgery_path():
    model = tiny_model().eval()
    images = torch.randn(2, 3, 64, 64)
    plain = surgery_forward(model.backbone, images, 2)
    calibrated = surgery_forward(model.backbone, images, 2, ex_feats=torch.randn(2, 8, 4, 4))
    assert plain.layer_tokens.shape == (4, 2, 17, 64)
    torch.testing.assert_close(plain.attention, calibrated.attention)
    assert not torch.allclose(plain.tokens[:, 1:], calibrated.tokens[:, 1:])
    with pytest.raises(ValueError, match='do not match'):
        surgery_forward(model.backbone, images, 2, ex_feats=torch.randn(2, 8, 3, 3))


def test_flip_max_and_msc_known_answers():
    maps = torch.rand(2, 4, 3)
    combined = flip_max_class_maps(maps, (2, 2))
    assert combined.shape == (1, 4, 3)
    assert torch.allclose(combined.amin(1), torch.zeros(1, 3))
    assert torch.allclose(combined.amax(1), torch.ones(1, 3), atol=1e-4)
    # logits = the first input channel: at the base size the unflipped half is the image
    image = torch.rand(3, 4, 4)
    first_channel = lambda batch: batch[:, :1]  # noqa: E731
    torch.testing.assert_close(msc_flip_logits(first_channel, image, 4, (1.0,)), image[:1])
    # a class that only sees the left half: (unflipped base [1, 0] + flip average 0.5) / 2
    left = lambda batch: batch[:, :1] * (torch.arange(batch.shape[-1]) < batch.shape[-1] // 2)  # noqa: E731,E501
    both = msc_flip_logits(left, torch.ones(3, 4, 4), 4, (1.0, 2.0))
    assert both[0, :, :2].eq(0.75).all() and both[0, :, 2:].eq(0.25).all()


def test_coco_msc_flips_the_base_scale_and_averages_at_a_fifth():
    """tools/infer_seg_coco.py: the base scale also averages its flip, and every scale's
    logits are averaged at (int(0.2 H), int(0.2 W))."""
    left = lambda batch: batch[:, :1] * (torch.arange(batch.shape[-1]) < batch.shape[-1] // 2)  # noqa: E731,E501
    image = torch.ones(3, 10, 20)
    coco = msc_flip_logits(left, image, 4, (1.0, 2.0), base_flip=True, merge_ratio=0.2)
    assert coco.shape == (1, 2, 4) and torch.allclose(coco, torch.full((1, 2, 4), 0.5))
    voc = msc_flip_logits(left, image, 4, (1.0, 2.0))  # the base scale unflipped
    assert voc.shape == (1, 10, 20) and torch.allclose(voc[0, :, :5], torch.tensor(0.75))
    # the merge size is floored, never 0
    assert msc_flip_logits(left, torch.ones(3, 3, 4), 4, (1.0,), merge_ratio=0.2).shape \
        == (1, 1, 1)
    model = tiny_model(segmenter_cfg=dict(size=64, scales=(1.0,), base_flip=True,
                                          merge_ratio=0.2)).eval()
    assert model.segmenter_logits(torch.randn(3, 50, 70)).shape == (3, 10, 14)
    sample = OVDataSample(metainfo=dict(classnames=CLASSES, img_shape=(50, 70),
                                        ori_shape=(50, 70)))
    (out,) = model.predict(torch.randn(1, 3, 50, 70), [sample])
    assert out.pred_sem_seg.data.shape == (1, 50, 70)


def test_coco_msc_matches_the_official_infer_seg_coco():
    """tools/infer_seg_coco.py _validate on a stand-in segmenter (fixture NOTE_data.md)."""
    import os
    golden = np.load(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures',
                                  'golden', 'excel', 'excel_coco_msc.npz'))
    weight, bias = torch.from_numpy(golden['weight']), torch.from_numpy(golden['bias'])

    def stand_in(batch):
        pooled = torch.nn.functional.avg_pool2d(batch, 16)
        ramp = torch.linspace(-1.0, 1.0, pooled.shape[-1])  # not flip-equivariant
        return (torch.einsum('kc,nchw->nkhw', weight, pooled) + bias[None, :, None, None]
                + bias[None, :, None, None] * ramp)

    for index in range(2):
        image = torch.from_numpy(golden[f'image_{index}'].astype(np.float32))
        ours = msc_flip_logits(stand_in, image, int(golden['size']),
                               tuple(golden['scales'].tolist()), True, base_flip=True,
                               merge_ratio=0.2)
        expected = torch.from_numpy(golden[f'msc_seg_{index}'])
        assert ours.shape == expected.shape
        torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
        voc = msc_flip_logits(stand_in, image, int(golden['size']),
                              tuple(golden['scales'].tolist()), True, merge_ratio=0.2)
        assert (voc - expected).abs().max() > 1e-3  # the base-scale flip matters


def test_affinity_labels_never_from_the_segmenter_with_none():
    """train_coco.py: seg_affinity_start_iter=None keeps the pseudo-masks' affinity labels."""
    from ovperception.models.segmentation.excel_training import (excel_train_cfg,
                                                                 uses_segmenter_affinity)
    never = excel_train_cfg(dict(lvc_start_iter=30000, seg_affinity_start_iter=None))
    assert not any(uses_segmenter_affinity(never, i) for i in (0, 30000, 10 ** 9))
    voc = excel_train_cfg(None)
    assert [uses_segmenter_affinity(voc, i) for i in (23999, 24000)] == [False, True]
    for bad in (dict(lvc_start_iter=None), dict(seg_affinity_start_iter='never'),
                dict(seg_affinity_start_iter=-1)):
        with pytest.raises(ValueError, match='train_cfg'):
            excel_train_cfg(bad)
    torch.manual_seed(0)
    model = tiny_model(train_cfg=dict(lvc_start_iter=0, seg_affinity_start_iter=None,
                                      affinity_radius=1)).train()
    images = torch.randn(2, 3, 64, 64)
    samples = [OVDataSample(metainfo=dict(classnames=CLASSES, image_tags=tags))
               for tags in ([1], [1, 2])]
    model.train_iter.fill_(10 ** 6)
    from ovperception.models.segmentation import excel as excel_module
    seen = []
    original = excel_module.segmenter_losses

    def spy(logits, affinity, masks, use_segmenter_affinity, cfg):
        seen.append(use_segmenter_affinity)
        return original(logits, affinity, masks, use_segmenter_affinity, cfg)

    excel_module.segmenter_losses = spy
    try:
        losses = model.loss(images, samples)
    finally:
        excel_module.segmenter_losses = original
    assert seen == [False] and torch.isfinite(losses['loss_aff'])


def test_vocabulary_outside_the_head_classes_is_one_line():
    assert vocabulary_in_head(['Dog', 'BACKGROUND'], CLASSES) == [2, 0]
    with pytest.raises(ValueError) as error:
        vocabulary_in_head(['cat', 'horse'], CLASSES)
    message = str(error.value)
    assert '\n' not in message and "['horse']" in message and 'training-free' in message
    model = tiny_model().eval()
    sample = OVDataSample(metainfo=dict(classnames=['horse'], img_shape=(64, 64)))
    with pytest.raises(ValueError, match='knows only'):
        model.predict(torch.randn(1, 3, 64, 64), [sample])


def test_configuration_errors_are_one_line():
    with pytest.raises(ValueError, match='needs head_classes'):
        tiny_model(head_classes=None)
    with pytest.raises(ValueError, match='unknown ExCEL train_cfg keys'):
        tiny_model(train_cfg=dict(lvc_start=3))
    with pytest.raises(ValueError, match='predict_from'):
        tiny_model(segmenter_cfg=dict(predict_from='cams'))
    with pytest.raises(ValueError, match='4 classes but head_classes lists 3'):
        tiny_model(seg_head=ExCELSegHead(64, 4, 16, 4, 1, 2))


def test_training_needs_image_tags_and_keeps_clip_frozen():
    model = tiny_model(train_cfg=dict(lvc_start_iter=1, seg_affinity_start_iter=2,
                                      affinity_radius=1)).train()
    assert not model.backbone.training and model.seg_head.training
    images = torch.randn(2, 3, 64, 64)
    with pytest.raises(ValueError) as error:
        model.loss(images, [OVDataSample(metainfo=dict(classnames=CLASSES))] * 2)
    assert '\n' not in str(error.value) and 'ImageTagsFromMask' in str(error.value)
    samples = [OVDataSample(metainfo=dict(classnames=CLASSES, image_tags=tags))
               for tags in ([1], [])]
    for step in range(3):   # raw, then LVC + seg_attn, then the segmenter's affinity labels
        losses = model.loss(images, samples)
        (losses['loss_seg'] + losses['loss_aff']).backward()
        assert int(model.train_iter) == step + 1
    assert all(p.grad is None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.seg_head.parameters())
    assert 'train_iter' in model.state_dict()


def test_training_steps_fit_the_pseudo_masks_of_a_fixed_batch():
    """Real AdamW steps on one batch (phase before LVC: fixed pseudo-masks, dropout off):
    the segmentation loss must fall by a third, and so must the affinity loss."""
    torch.manual_seed(0)
    model = tiny_model(seg_head=dict(type='ExCELSegHead', in_channels=64, num_layers=4,
                                     embed_dim=16, num_classes=3, decoder_layers=1,
                                     decoder_heads=2, dropout=0.0)).train()
    images = torch.randn(2, 3, 64, 64)
    samples = [OVDataSample(metainfo=dict(classnames=CLASSES, image_tags=tags))
               for tags in ([1], [1, 2])]
    optimizer = torch.optim.AdamW(model.seg_head.parameters(), lr=1e-2)
    history = []
    for _ in range(25):
        losses = model.loss(images, samples)
        optimizer.zero_grad()
        (losses['loss_seg'] + losses['loss_aff']).backward()
        optimizer.step()
        history.append((losses['loss_seg'].item(), losses['loss_aff'].item()))
    first, last = history[0], history[-1]
    assert last[0] < 0.67 * first[0], history
    assert last[1] < 0.67 * first[1], history


def test_training_free_model_refuses_to_train():
    model = ExCELModel(tiny_model().backbone, input_size=64)
    with pytest.raises(RuntimeError, match='training-free'):
        model.loss(torch.randn(1, 3, 64, 64), [OVDataSample()])
    with pytest.raises(ValueError, match='need a seg_head'):
        ExCELModel(model.backbone, train_cfg=dict(lvc_start_iter=1))


def test_trained_pseudo_masks_follow_the_image_tags():
    model = tiny_model(segmenter_cfg=dict(size=64, predict_from='pseudo_masks')).eval()
    sample = OVDataSample(metainfo=dict(classnames=['dog', 'background'], image_tags=[0],
                                        img_shape=(64, 64), ori_shape=(40, 50)))
    out = model.predict(torch.randn(1, 3, 64, 64), [sample])[0]
    assert out.pred_sem_seg.data.shape == (1, 40, 50)
    assert set(out.pred_sem_seg.data.unique().tolist()) <= {0, 1}
