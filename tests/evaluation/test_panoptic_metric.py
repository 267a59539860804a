"""Panoptic quality against hand-computed cases (COCO panopticapi conventions)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.evaluation.panoptic_metric import PanopticMetric, pq_statistics, pq_summary
from ovperception.structures import OVDataSample
from ovperception.utils.panoptic import INSTANCE_OFFSET, VOID

THING = 1 + INSTANCE_OFFSET  # class 1, instance 1


def test_perfect_prediction_has_pq_100():
    gt = np.zeros((4, 4), dtype=np.int64)
    gt[:2, :2] = THING
    stats = pq_statistics(gt.copy(), gt, num_classes=2)
    assert stats.tolist() == [[1, 0, 0, 1.0], [1, 0, 0, 1.0]]
    assert pq_summary(stats)['PQ'] == 100.0


def test_hand_computed_iou_fp_fn():
    # 10x10 image; class 0 stuff covers everything except a 4x5 thing (class 1).
    gt = np.zeros((10, 10), dtype=np.int64)
    gt[0:4, 0:5] = THING                  # gt thing area 20
    pred = np.zeros((10, 10), dtype=np.int64)
    pred[0:4, 1:6] = THING                # pred thing area 20, overlap 4x4 = 16
    pred[8:10, 8:10] = 1 + 2 * INSTANCE_OFFSET  # a spurious thing of area 4 (FP)
    stats = pq_statistics(pred, gt, num_classes=2)
    # thing: IoU 16 / (20 + 20 - 16) = 2/3 > 0.5 -> TP; the spurious one -> FP
    assert stats[1].tolist() == pytest.approx([1, 1, 0, 2 / 3])
    # stuff: gt area 80, pred area 100 - 20 - 4 = 76, overlap 80 - 4 - 4 = 72
    assert stats[0].tolist() == pytest.approx([1, 0, 0, 72 / (80 + 76 - 72)])
    summary = pq_summary(stats, is_thing=[False, True])
    pq_thing = (2 / 3) / (1 + 0.5)
    assert summary['PQ_th'] == pytest.approx(round(pq_thing * 100, 2))
    assert summary['SQ_th'] == pytest.approx(round(2 / 3 * 100, 2))
    assert summary['RQ_th'] == pytest.approx(round(1 / 1.5 * 100, 2))
    assert summary['PQ'] == pytest.approx(round((pq_thing + 72 / 84) / 2 * 100, 2))


def test_low_iou_gives_one_fp_and_one_fn():
    gt = np.full((4, 4), VOID, dtype=np.int64)
    gt[:, :2] = THING                     # area 8
    pred = np.full((4, 4), VOID, dtype=np.int64)
    pred[:, 1:4] = THING                  # area 12, overlap 4 -> IoU 4 / 16 (pred on VOID 8)
    stats = pq_statistics(pred, gt, num_classes=2)
    # the union drops the 8 prediction pixels on VOID: IoU = 4 / (8 + 12 - 4 - 8) = 0.5, not
    # > 0.5 -> no match; the FP is 8/12 on VOID (> 0.5) so it is ignored
    assert stats[1].tolist() == [0, 0, 1, 0.0]
    assert pq_summary(stats)['PQ'] == 0.0


def test_void_overlap_is_removed_from_the_union():
    gt = np.full((4, 4), VOID, dtype=np.int64)
    gt[:, :2] = 0
    pred = np.zeros((4, 4), dtype=np.int64)          # predicts class 0 everywhere
    stats = pq_statistics(pred, gt, num_classes=1)
    assert stats[0].tolist() == [1, 0, 0, 1.0]      # 8 / (16 + 8 - 8 - 8)


def test_wrong_class_is_fp_and_fn():
    gt = np.zeros((2, 2), dtype=np.int64)
    pred = np.ones((2, 2), dtype=np.int64)
    stats = pq_statistics(pred, gt, num_classes=2)
    assert stats.tolist() == [[0, 0, 1, 0.0], [0, 1, 0, 0.0]]


def test_empty_images_and_classes_never_seen_are_left_out():
    empty = np.full((3, 3), VOID, dtype=np.int64)
    stats = pq_statistics(empty, empty, num_classes=3)
    assert not stats.any()
    assert np.isnan(pq_summary(stats)['PQ'])


def test_label_outside_vocabulary_and_shape_mismatch_raise():
    with pytest.raises(ValueError, match='outside'):
        pq_statistics(np.full((2, 2), 5), np.zeros((2, 2), dtype=np.int64), num_classes=2)
    with pytest.raises(ValueError, match='size'):
        pq_statistics(np.zeros((2, 3)), np.zeros((2, 2)), num_classes=2)


def test_metric_accumulates_over_images():
    def sample(pred, gt):
        item = OVDataSample(metainfo=dict(classnames=['sky', 'car'], is_thing=[False, True]))
        item.pred_panoptic_seg = PixelData(data=torch.as_tensor(pred)[None])
        item.gt_panoptic_seg = PixelData(data=torch.as_tensor(gt)[None])
        return item.to_dict()

    gt = np.zeros((4, 4), dtype=np.int64)
    gt[:2, :2] = THING
    wrong = np.zeros((4, 4), dtype=np.int64)  # misses the car
    metric = PanopticMetric()
    metric.process({}, [sample(gt, gt), sample(wrong, gt)])
    result = metric.compute_metrics(metric.results)
    # car: TP 1, FN 1 -> PQ 1 / 1.5; sky: image 1 exact, image 2 IoU 12/16 -> PQ 1.75 / 2
    assert result['PQ_th'] == pytest.approx(round(100 / 1.5, 2))
    assert result['PQ_st'] == pytest.approx(round(1.75 / 2 * 100, 2))


# ------------------------------------------------------------------ panopticapi crowd parity
def test_crowd_regions_follow_panopticapi():
    """8 random crowd-heavy images scored by panopticapi's pq_compute_single_core
    (tests/fixtures/golden/panopticapi/NOTE.md): identical TP / FP / FN and IoU sums."""
    from pathlib import Path
    cases = np.load(Path(__file__).resolve().parents[1] / 'fixtures' / 'golden' / 'panopticapi'
                    / 'crowd_cases.npz')
    ours = np.stack([pq_statistics(cases[f'pred{i}'], cases[f'gt{i}'], 4, cases[f'crowd{i}'])
                     for i in range(len(cases['stats']))])
    np.testing.assert_allclose(ours, cases['stats'], atol=1e-9)
    # treating crowd as VOID for every class (our former rule) disagrees on these cases
    void_only = np.stack([pq_statistics(cases[f'pred{i}'], cases[f'gt{i}'], 4)
                          for i in range(len(cases['stats']))])
    assert not np.allclose(void_only, cases['stats'])


def test_metric_reads_crowd_from_the_semantic_map():
    gt = np.full((4, 8), VOID, dtype=np.int64)
    gt[:, 4:] = 0  # stuff class 0; the left half is a crowd of class 1
    pred = np.zeros((4, 8), dtype=np.int64)
    pred[:, :4] = THING  # a class-1 prediction lying on the class-1 crowd: forgiven

    def class1_stats(semantic):
        sample = OVDataSample(metainfo=dict(classnames=['sky', 'car']))
        sample.gt_panoptic_seg = PixelData(data=torch.from_numpy(gt)[None])
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(semantic)[None])
        sample.pred_panoptic_seg = PixelData(data=torch.from_numpy(pred)[None])
        metric = PanopticMetric()
        metric.process({}, [sample.to_dict()])
        return metric.results[0][1].tolist()

    assert class1_stats(np.where(gt == VOID, 1, 0)) == [0, 0, 0, 0]     # own-class crowd
    assert class1_stats(np.where(gt == VOID, 255, 0)) == [0, 0, 0, 0]   # unlabelled VOID
    # a crowd of another class does not forgive: panopticapi counts a false positive
    crowd_of_class0 = np.where(gt == VOID, 0, -1)
    assert pq_statistics(pred, gt, 2, crowd_of_class0)[1].tolist() == [0, 1, 0, 0]
