"""CocoMetric on panoptic ground truth: thing segments (+ crowd) as instances."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData

from ovperception.evaluation import CocoMetric
from ovperception.models.panoptic.mask_inference import instance_inference
from ovperception.structures import OVDataSample
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID, panoptic_to_instances

IS_THING = [False, True, True]  # 0 stuff ('sky'), 1 and 2 things


def _panoptic_maps():
    """(panoptic, semantic): two class-1 things, one class-2 thing, stuff, a class-2 crowd."""
    panoptic = np.zeros((40, 50), dtype=np.int64)
    panoptic[2:10, 3:13] = 1 + INSTANCE_OFFSET
    panoptic[20:30, 5:15] = 1 + 2 * INSTANCE_OFFSET
    panoptic[12:18, 30:45] = 2 + 3 * INSTANCE_OFFSET
    semantic = panoptic % INSTANCE_OFFSET
    panoptic[32:38, 30:40] = VOID  # crowd of class 2: VOID in the panoptic map
    semantic[32:38, 30:40] = 2
    panoptic[0, :] = VOID  # unlabelled
    semantic[0, :] = 255
    return panoptic, semantic


def test_panoptic_to_instances_known_answer():
    panoptic, semantic = _panoptic_maps()
    out = panoptic_to_instances(panoptic, semantic, IS_THING)
    assert out['labels'].tolist() == [1, 1, 2, 2]
    assert out['ignore_flags'].tolist() == [False, False, False, True]
    assert out['bboxes'].tolist() == [[3, 2, 13, 10], [5, 20, 15, 30], [30, 12, 45, 18],
                                      [30, 32, 40, 38]]
    assert out['masks'].sum(axis=(1, 2)).tolist() == [80, 100, 90, 60]
    # without the semantic map there is no crowd; a stuff-only map has no instances
    assert panoptic_to_instances(panoptic)['labels'].tolist() == [1, 1, 2]
    empty = panoptic_to_instances(np.zeros((4, 5), dtype=np.int64))
    assert empty['masks'].shape == (0, 4, 5) and empty['bboxes'].shape == (0, 4)


def _sample(img_id, predicted):
    """A packed panoptic sample (as PackOVInputs makes it) with ``predicted`` instances."""
    panoptic, semantic = _panoptic_maps()
    sample = OVDataSample(metainfo=dict(img_id=img_id, ori_shape=panoptic.shape,
                                        is_thing=IS_THING))
    sample.gt_panoptic_seg = PixelData(data=torch.from_numpy(panoptic)[None])
    sample.gt_sem_seg = PixelData(data=torch.from_numpy(semantic)[None])
    sample.pred_instances = predicted
    return sample


def _fcclip_style_predictions(keep=(0, 1, 2), on_crowd=False):
    """FC-CLIP's ``instance_inference`` on queries whose masks are the GT things."""
    gt = panoptic_to_instances(*_panoptic_maps(), IS_THING)
    chosen = list(keep) + ([3] if on_crowd else [])
    masks = torch.from_numpy(gt['masks'][chosen]).float() * 20 - 10  # mask logits
    probs = torch.zeros(len(chosen) + 1, len(IS_THING) + 1)  # + a stuff query, + void column
    probs[torch.arange(len(chosen)), torch.from_numpy(gt['labels'][chosen])] = 0.9
    probs[len(chosen), 0] = 0.9  # stuff: dropped by is_thing
    masks = torch.cat([masks, torch.full((1, *masks.shape[1:]), 10.0)])
    return instance_inference(probs, masks, IS_THING, max_instances=100)


def _evaluate(samples):
    metric = CocoMetric(metric=['segm', 'bbox'])
    metric.dataset_meta = dict(classes=('sky', 'car', 'person'), is_thing=IS_THING)
    metric.process({}, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def test_predictions_equal_to_panoptic_things_give_ap_one():
    predicted = _fcclip_style_predictions()
    # the released rule keeps the top-k (query, class) pairs, zero-probability ones too
    positive = predicted.scores > 0
    assert predicted.labels[positive].tolist() == [1, 1, 2] and int(positive.sum()) == 3
    metrics = _evaluate([_sample(1, predicted), _sample(2, _fcclip_style_predictions())])
    assert metrics['coco/segm_mAP'] == pytest.approx(1.0)
    assert metrics['coco/bbox_mAP'] == pytest.approx(1.0)
    # a detection on the crowd region is absorbed (iscrowd), not a false positive
    metrics = _evaluate([_sample(1, _fcclip_style_predictions(on_crowd=True))])
    assert metrics['coco/segm_mAP'] == pytest.approx(1.0)


def test_a_missed_instance_lowers_ap():
    metrics = _evaluate([_sample(1, _fcclip_style_predictions(keep=(0, 2)))])
    # class 1 finds 1 of its 2 instances (AP 0.5 with 101-point interpolation), class 2 1.0
    assert metrics['coco/segm_mAP'] == pytest.approx((0.50495 + 1.0) / 2, abs=1e-3)


def test_samples_without_instances_or_panoptic_labels_are_rejected():
    sample = OVDataSample(metainfo=dict(img_id=1, ori_shape=(4, 4)))
    sample.pred_instances = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                                         labels=torch.zeros(0, dtype=torch.long),
                                         masks=torch.zeros(0, 4, 4, dtype=torch.bool))
    with pytest.raises(KeyError, match='gt_panoptic_seg'):
        _evaluate([sample])
