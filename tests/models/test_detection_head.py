"""OVDetectionHead in OVModel: known-answer detection on synthetic shapes, POS, bad input."""
from __future__ import annotations

import pytest
import torch

from ovperception.datasets import SyntheticDetDataset
from ovperception.evaluation import CocoMetric
from ovperception.models import OVModel
from ovperception.models.clip.vocabulary import VocabularyError
from ovperception.models.detection.proposals import Proposals, ProposalSource
from ovperception.models.detection import OVDetectionHead
from ovperception.models.stitched import StitchedWindows
from ovperception.structures import OVDataSample
from tests.detection_toys import ColourBackbone

BACKGROUND_WORDS = ['grey striped background', 'sky', 'wall']


def _model(head=None, **kwargs):
    kwargs.setdefault('background_words', BACKGROUND_WORDS)
    return OVModel(ColourBackbone(), head or OVDetectionHead(), template_set='single',
                   test_cfg=dict(mode='slide', crop_size=32, stride=16), **kwargs)


def _batch(model, num=6, seed=5, **dataset_kwargs):
    dataset = SyntheticDetDataset(num_samples=num, seed=seed, test_mode=True,
                                  pipeline=[dict(type='PackOVDetInputs')], **dataset_kwargs)
    items = [dataset[i] for i in range(num)]
    data = model.data_preprocessor(dict(inputs=[i['inputs'] for i in items],
                                        data_samples=[i['data_samples'] for i in items]))
    return data['inputs'], data['data_samples'], dataset


def _evaluate(samples, dataset, metric=('bbox', 'segm')):
    evaluator = CocoMetric(metric=list(metric))
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process({}, [s.to_dict() for s in samples])
    return evaluator.evaluate(len(samples))


def test_connected_components_find_the_synthetic_objects(one_thread):
    model = _model()
    inputs, samples, dataset = _batch(model, num=8)
    predicted = model.predict(inputs, samples)
    metrics = _evaluate(predicted, dataset)
    assert metrics['coco/bbox_mAP_50'] >= 0.95, metrics
    assert metrics['coco/bbox_mAP'] >= 0.5, metrics
    assert metrics['coco/segm_mAP_50'] >= 0.95, metrics
    first = predicted[0]
    assert first.metainfo['label_names'] == dataset.classnames
    assert first.pred_instances.masks.shape[1:] == (64, 96)
    assert first.pred_instances.masks.dtype == torch.bool
    # without any background model every cell is some class: one blob, AP50 about 0.28
    plain = _model(OVDetectionHead(background_mode='none'), background_words=[])
    inputs, samples, _ = _batch(plain, num=8)
    assert _evaluate(plain.predict(inputs, samples), dataset, ['bbox'])['coco/bbox_mAP_50'] < 0.5


def test_image_background_beats_no_background_on_a_distractor(one_thread):
    """A sky-blue patch is background; without background words it becomes a 'blue triangle'."""
    model = _model(OVDetectionHead(background_mode='image', background_top_k=1),
                   background_words=['grey striped background', 'navy sky'])
    plain = _model(OVDetectionHead(background_mode='none'), background_words=[])
    image = torch.full((3, 64, 96), 128.0)
    image[:, 8:40, 8:40] = torch.tensor([20.0, 30.0, 110.0])[:, None, None]  # navy: background
    image[:, 20:44, 56:80] = torch.tensor([220.0, 30.0, 30.0])[:, None, None]  # a red square
    vocabulary = ['red square', 'blue triangle']
    results = {}
    for name, net in (('image', model), ('none', plain)):
        sample = OVDataSample(metainfo=dict(classnames=vocabulary))
        data = net.data_preprocessor(dict(inputs=[image], data_samples=[sample]))
        results[name] = net.predict(data['inputs'], data['data_samples'])[0].pred_instances
    strong = results['image'][results['image'].scores > 0.5]
    assert strong.labels.tolist() == [0]  # only the red square
    assert strong.bboxes[0].tolist() == [56.0, 20.0, 80.0, 44.0]
    assert 1 in results['none'][results['none'].scores > 0.5].labels.tolist()


class FixedProposals(ProposalSource):
    """Returns the given boxes (for hand-made post-processing cases)."""

    def __init__(self, boxes, masks=None):
        super().__init__()
        self.boxes = torch.tensor(boxes, dtype=torch.float32)
        self.masks = masks

    def propose(self, inputs):
        return Proposals(self.boxes.clone(), torch.ones(len(self.boxes)), self.masks)


def _detect(head, image, vocabulary=('red square', 'green circle'), ori_shape=None):
    model = _model(head)
    meta = dict(classnames=list(vocabulary))
    if ori_shape is not None:
        meta['ori_shape'] = ori_shape
    sample = OVDataSample(metainfo=meta)
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]))
    return model.predict(data['inputs'], data['data_samples'])[0]


def _red_image():
    image = torch.full((3, 64, 96), 128.0)
    image[:, 8:56, 8:88] = torch.tensor([220.0, 30.0, 30.0])[:, None, None]
    return image


def test_partial_object_suppression_in_the_head():
    whole, part = [8.0, 8.0, 88.0, 56.0], [16.0, 16.0, 40.0, 40.0]  # IoU 0.15, part inside
    with_pos = _detect(OVDetectionHead(proposals=FixedProposals([whole, part]), top_k_classes=1,
                                       pos_threshold=0.8), _red_image()).pred_instances
    without = _detect(OVDetectionHead(proposals=FixedProposals([whole, part]), top_k_classes=1,
                                      pos_threshold=1.01), _red_image()).pred_instances
    assert len(without) == 2 and (without.labels == 0).all()
    assert len(with_pos) == 1
    assert with_pos.bboxes[0].tolist() == whole


def test_degenerate_proposals_and_no_proposals():
    degenerate = [[10.0, 10.0, 10.0, 30.0], [5.0, 5.0, 2.0, 2.0], [float('nan'), 0, 4, 4]]
    result = _detect(OVDetectionHead(proposals=FixedProposals(degenerate)), _red_image())
    assert len(result.pred_instances) == 0 and result.pred_instances.bboxes.shape == (0, 4)
    grey = torch.full((3, 64, 96), 128.0)
    empty = _detect(OVDetectionHead(), grey, ori_shape=(32, 48)).pred_instances
    assert len(empty) == 0 and empty.masks.shape == (0, 32, 48)


def test_boxes_and_masks_scaled_to_the_original_shape():
    image = torch.full((3, 64, 96), 128.0)
    image[:, 16:48, 24:72] = torch.tensor([220.0, 30.0, 30.0])[:, None, None]
    result = _detect(OVDetectionHead(), image, ori_shape=(128, 192)).pred_instances
    best = result[int(result.scores.argmax())]
    assert best.bboxes[0].tolist() == [48.0, 32.0, 144.0, 96.0]
    assert best.masks.shape == (1, 128, 192) and best.masks.sum().item() == 96 * 64


def test_bad_vocabularies_and_settings():
    model = _model()
    inputs, samples, _ = _batch(model, num=1)
    samples[0].set_metainfo(dict(classnames=['red square', ' ; ']))
    with pytest.raises(VocabularyError, match='empty'):
        model.predict(inputs, samples)
    no_words = _model(OVDetectionHead(background_mode='image'), background_words=[])
    inputs, samples, _ = _batch(no_words, num=1)
    with pytest.raises(ValueError, match='background words'):
        no_words.predict(inputs, samples)
    with pytest.raises(ValueError, match='pooling'):
        OVDetectionHead(pooling='max')
    with pytest.raises(ValueError, match='crop_weight'):
        OVDetectionHead(crop_weight=2.0)
    roi_only = OVDetectionHead(proposals=FixedProposals([[8.0, 8.0, 88.0, 56.0]]), pooling='mask')
    with pytest.raises(ValueError, match='masks'):
        _detect(roi_only, _red_image())


def test_crop_re_encoding_and_roi_pooling_agree_on_a_clear_object():
    for head in (OVDetectionHead(crop_weight=0.5), OVDetectionHead(pooling='roi')):
        result = _detect(head, _red_image()).pred_instances
        assert result.labels[result.scores.argmax()].item() == 0
        assert result.scores.max().item() > 0.9


def test_batch_with_two_vocabularies_equals_one_by_one(one_thread):
    model = _model()
    inputs, samples, _ = _batch(model, num=4)
    samples[1].set_metainfo(dict(classnames=['green circle', 'red square', 'blue triangle']))
    together = [s.pred_instances for s in model.predict(inputs, samples)]
    for index in range(4):
        alone = model.predict(inputs[index:index + 1], [samples[index]])[0].pred_instances
        assert torch.equal(alone.bboxes, together[index].bboxes)
        assert torch.equal(alone.labels, together[index].labels)


def _forbid_full_resolution(monkeypatch):
    """Make every full-resolution evaluation of a StitchedWindows raise."""
    def refuse(self, *args, **kwargs):
        raise AssertionError('the detection head built the full-resolution (C, H, W) map')
    monkeypatch.setattr(StitchedWindows, 'dense', refuse)
    monkeypatch.setattr(StitchedWindows, 'map_rows', refuse)


@pytest.mark.parametrize('head_kwargs', [
    dict(),  # connected components (dense segmentation) + mask pooling
    dict(pooling='roi', analysis_stride=8),  # RoI-align on a coarser grid
    dict(proposals=dict(type='LearnedProposals', in_channels=16, hidden_channels=16,
                        distance_scale=8.0), pooling='roi'),  # extra dense channels
])
def test_lazy_windows_give_the_detections_of_the_dense_map(monkeypatch, one_thread,
                                                           head_kwargs):
    """Old path (materialised (C + E, H, W) map) vs the lazy analysis grid: same detections."""
    torch.manual_seed(0)
    head = OVDetectionHead(**head_kwargs)
    model = _model(head)
    inputs, samples, _ = _batch(model, num=3)
    head.takes_stitched_windows = False  # instance override: OVModel hands dense tensors
    dense = [s.pred_instances.clone() for s in model.predict(inputs, samples)]
    del head.takes_stitched_windows
    _forbid_full_resolution(monkeypatch)
    lazy = [s.pred_instances for s in model.predict(inputs, samples)]
    assert sum(len(d) for d in dense) > 0
    for old, new in zip(dense, lazy):
        assert len(old) == len(new)
        assert torch.allclose(old.bboxes, new.bboxes, atol=1e-3)
        assert torch.allclose(old.scores, new.scores, atol=1e-4)
        assert torch.equal(old.labels, new.labels)
        if 'masks' in old:
            assert torch.equal(old.masks, new.masks)


def test_head_never_materialises_the_full_resolution_map(monkeypatch, one_thread):
    model = _model()
    assert OVDetectionHead.takes_stitched_windows
    _forbid_full_resolution(monkeypatch)
    inputs, samples, dataset = _batch(model, num=4)
    metrics = _evaluate(model.predict(inputs, samples), dataset)
    assert metrics['coco/bbox_mAP_50'] >= 0.95, metrics


def test_learned_proposals_train_through_ov_model(one_thread):
    head = OVDetectionHead(proposals=dict(type='LearnedProposals', in_channels=16,
                                          hidden_channels=16, distance_scale=8.0))
    model = _model(head)
    inputs, samples, _ = _batch(model, num=4)
    assert model.is_trainable and not any(p.requires_grad for p in model.backbone.parameters())
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_obj', 'loss_box', 'loss_ctr'}
    sum(losses.values()).backward()
    assert head.proposals.tower[0].weight.grad.abs().sum() > 0
    predicted = model.predict(inputs, samples)[0].pred_instances
    assert 'masks' not in predicted and predicted.bboxes.shape[1] == 4


def test_training_targets_follow_the_resize_from_ori_shape():
    """GT boxes are in original pixels; the loss scales them to the (resized) input."""
    head = OVDetectionHead(proposals=dict(type='LearnedProposals', in_channels=16,
                                          hidden_channels=8, distance_scale=8.0))
    feats = torch.randn(1, 16, 8, 12)
    from mmengine.structures import InstanceData

    def sample(boxes, ori_shape):
        item = OVDataSample(metainfo=dict(img_shape=(32, 48), ori_shape=ori_shape,
                                          pad_shape=(32, 48)))
        item.gt_instances = InstanceData(bboxes=torch.tensor(boxes),
                                         labels=torch.zeros(len(boxes), dtype=torch.long),
                                         ignore_flags=torch.tensor([False, True]))
        return item

    at_input = head.loss(feats, None, [sample([[4.0, 8.0, 20.0, 24.0], [0.0, 0.0, 8.0, 8.0]],
                                              (32, 48))])
    at_double = head.loss(feats, None, [sample([[8.0, 16.0, 40.0, 48.0], [0.0, 0.0, 4.0, 4.0]],
                                               (64, 96))])
    for key in at_input:
        assert at_input[key].item() == pytest.approx(at_double[key].item(), rel=1e-5)
