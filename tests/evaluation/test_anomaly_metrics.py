"""Anomaly metrics: hand-computed answers, parity with naive loops, undefined cases, speed size."""
from __future__ import annotations

import logging
from collections import deque
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.logging import print_log
from mmengine.structures import PixelData

from ovperception.evaluation import AnomalyMetric
from ovperception.evaluation.anomaly import (aupro, average_precision, f1_max, image_auroc,
                                             pixel_ap, pixel_auroc, pixel_f1_max, pro_curve)
from ovperception.registry import METRICS
from ovperception.structures import OVDataSample

# ----------------------------------------------------------------------------- naive references


def naive_auroc(labels, scores) -> float:
    """Probability that a random positive outranks a random negative (ties count 1/2)."""
    pos = [s for lb, s in zip(labels, scores) if lb]
    neg = [s for lb, s in zip(labels, scores) if not lb]
    total = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return total / (len(pos) * len(neg))


def naive_pr(labels, scores) -> list[tuple[float, float]]:
    """(precision, recall) at each distinct threshold, highest threshold first."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, float)
    out = []
    for t in sorted(set(scores.tolist()), reverse=True):
        pred = scores >= t
        tp = int(np.sum(pred & labels))
        out.append((tp / int(pred.sum()), tp / int(labels.sum())))
    return out


def naive_ap(labels, scores) -> float:
    ap, prev_recall = 0.0, 0.0
    for precision, recall in naive_pr(labels, scores):
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return ap


def naive_f1max(labels, scores) -> float:
    return max((2 * p * r / (p + r) if p + r > 0 else 0.0) for p, r in naive_pr(labels, scores))


def naive_components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components by breadth-first flood fill."""
    seen = np.zeros_like(mask, bool)
    comps = []
    h, w = mask.shape
    for i in range(h):
        for j in range(w):
            if mask[i, j] and not seen[i, j]:
                comp, queue = [], deque([(i, j)])
                seen[i, j] = True
                while queue:
                    y, x = queue.popleft()
                    comp.append((y, x))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            v, u = y + dy, x + dx
                            if 0 <= v < h and 0 <= u < w and mask[v, u] and not seen[v, u]:
                                seen[v, u] = True
                                queue.append((v, u))
                comps.append(comp)
    return comps


def naive_aupro(masks, maps, limit=0.3) -> float:
    regions = [(n, comp) for n, m in enumerate(masks) for comp in naive_components(m)]
    normal = ~masks
    points = [(0.0, 0.0)]
    for t in sorted(set(maps.ravel().tolist()), reverse=True):
        pred = maps >= t
        pro = np.mean([np.mean([pred[n, y, x] for y, x in comp]) for n, comp in regions])
        fpr = np.sum(pred & normal) / np.sum(normal)
        points.append((fpr, pro))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if x0 >= limit:
            break
        if x1 > limit:  # interpolate the last segment at the limit
            y1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            x1 = limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / limit


# ----------------------------------------------------------------------------- known answers


def test_perfect_and_reversed():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    assert image_auroc(labels, scores) == 1.0
    assert image_auroc(labels, -scores) == 0.0
    assert average_precision(labels, scores) == 1.0
    assert f1_max(labels, scores) == 1.0


def test_ties_count_half():
    # pairs (pos, neg): (.9,.5)=1 (.9,.1)=1 (.5,.5)=1/2 (.5,.1)=1 -> 3.5 / 4
    assert image_auroc([0, 1, 0, 1], [0.5, 0.5, 0.1, 0.9]) == pytest.approx(0.875)
    assert image_auroc([0, 1, 0, 1], [0.3] * 4) == pytest.approx(0.5)


def test_ap_and_f1_hand_computed_five_points():
    labels = [1, 0, 1, 0, 1]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    # (P, R): (1, 1/3) (1/2, 1/3) (2/3, 2/3) (1/2, 2/3) (3/5, 1)
    assert average_precision(labels, scores) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    assert f1_max(labels, scores) == pytest.approx(0.75)  # at the last threshold


def test_aupro_perfect_map_and_limit_normalisation():
    masks = np.zeros((2, 8, 8), bool)
    masks[0, 1:3, 1:3] = True
    masks[1, 5:7, 4:8] = True
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0)
    assert aupro(masks, -masks.astype(float)) == pytest.approx(0.0)
    fpr, pro = pro_curve(masks, masks.astype(float))
    assert fpr[0] == pro[0] == 0.0 and fpr[-1] == pytest.approx(1.0)


def test_aupro_counts_diagonal_neighbours_as_one_region():
    mask = np.zeros((1, 6, 6), bool)
    mask[0, 1, 1] = mask[0, 2, 2] = True  # 8-connected: one region of area 2
    mask[0, 4, 4] = True                    # a second region
    amap = np.zeros((1, 6, 6))
    amap[0, 1, 1] = 1.0                     # covers half of region 1, none of region 2
    fpr, pro = pro_curve(mask, amap)
    assert pro[1] == pytest.approx(0.25) and fpr[1] == 0.0


# ----------------------------------------------------------------------------- parity


@pytest.mark.parametrize('seed', range(5))
def test_image_parity_with_naive(seed):
    rng = np.random.default_rng(seed)
    labels = rng.random(40) < 0.4
    labels[:2] = [True, False]
    scores = np.round(rng.random(40) + 0.3 * labels, 1)  # rounding makes ties
    assert image_auroc(labels, scores) == pytest.approx(naive_auroc(labels, scores))
    assert average_precision(labels, scores) == pytest.approx(naive_ap(labels, scores))
    assert f1_max(labels, scores) == pytest.approx(naive_f1max(labels, scores))


def test_pixel_parity_with_naive():
    rng = np.random.default_rng(7)
    masks = rng.random((3, 10, 10)) < 0.2
    maps = np.round(rng.random((3, 10, 10)) + 0.4 * masks, 2)
    assert pixel_auroc(masks, maps) == pytest.approx(naive_auroc(masks.ravel(), maps.ravel()))
    assert pixel_ap(masks, maps) == pytest.approx(naive_ap(masks.ravel(), maps.ravel()))
    assert pixel_f1_max(masks, maps) == pytest.approx(naive_f1max(masks.ravel(), maps.ravel()))


@pytest.mark.parametrize('seed', range(4))
def test_aupro_parity_with_naive(seed):
    rng = np.random.default_rng(seed)
    masks = np.zeros((3, 12, 12), bool)
    for n in range(3):
        for _ in range(rng.integers(1, 4)):
            y, x = rng.integers(0, 10, 2)
            masks[n, y:y + rng.integers(1, 4), x:x + rng.integers(1, 4)] = True
    maps = np.round(rng.random(masks.shape) + 0.5 * masks, 1)
    for limit in (0.3, 0.05, 1.0):
        assert aupro(masks, maps, fpr_limit=limit) == pytest.approx(
            naive_aupro(masks, maps, limit), abs=1e-12)
    binned = aupro(masks, maps, num_thresholds=5000)
    assert binned == pytest.approx(naive_aupro(masks, maps), abs=1e-3)


# ----------------------------------------------------------------------------- undefined / errors


def test_undefined_cases_raise_clear_errors():
    with pytest.raises(ValueError, match='AUROC is undefined for category bottle: it has no '
                                         'anomalous images'):
        image_auroc([0, 0, 0], [0.1, 0.2, 0.3], category='bottle')
    with pytest.raises(ValueError, match='no normal images'):
        image_auroc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match='AP is undefined'):
        average_precision([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match='AUPRO is undefined for category all: it has no '
                                         'anomalous pixels'):
        aupro(np.zeros((2, 4, 4), bool), np.random.rand(2, 4, 4))


def test_wrong_size_masks_raise():
    with pytest.raises(ValueError, match=r'\(2, 4, 4\).*\(2, 4, 5\)'):
        pixel_auroc(np.zeros((2, 4, 4), bool), np.zeros((2, 4, 5)))
    with pytest.raises(ValueError, match=r'\(4, 4\).*\(4, 5\)'):
        aupro(np.ones((2, 4, 4), bool), np.zeros((2, 4, 5)))
    metric = AnomalyMetric()
    with pytest.raises(ValueError, match=r'GT mask shape \(8, 8\) differs from anomaly map '
                                         r'shape \(8, 6\)'):
        metric.process({}, [_sample(np.zeros((8, 8), bool), np.zeros((8, 6)), 0.1, 'a')])


# ----------------------------------------------------------------------------- metric class


def _sample(mask: np.ndarray, amap: np.ndarray, score: float, category: str) -> OVDataSample:
    sample = OVDataSample(metainfo=dict(category=category))
    sample.gt_anomaly_map = PixelData(data=torch.as_tensor(mask, dtype=torch.float32)[None])
    sample.pred_anomaly_map = PixelData(data=torch.as_tensor(amap, dtype=torch.float32)[None])
    sample.pred_score = torch.tensor(score)
    return sample


def test_metric_end_to_end_two_categories():
    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):  # 'bottle': 3 anomalous, 3 normal, perfectly separated
        mask = np.zeros((16, 16), bool)
        if i < 3:
            mask[2 + i:6 + i, 3:8] = True
        amap = mask + 0.1 * rng.random((16, 16))
        samples.append(_sample(mask, amap, 0.9 if i < 3 else 0.1, 'bottle'))
    for _ in range(3):  # 'cable': normal images only
        samples.append(_sample(np.zeros((16, 16), bool), rng.random((16, 16)), 0.5, 'cable'))
    metric = METRICS.build(dict(type='AnomalyMetric', gaussian_sigma=0.0))
    metric.process({}, samples[:4])
    metric.process({}, [s.to_dict() for s in samples[4:]])
    with mock.patch('ovperception.evaluation.anomaly.anomaly_metric.print_log',
                    wraps=print_log) as log:
        result = metric.compute_metrics(metric.results)
    warned = [c for c in log.call_args_list if c.kwargs.get('level') == logging.WARNING]
    assert any('AUROC is undefined for category cable' in str(c.args[0]) for c in warned)
    rows = {row['Category']: row for row in metric.last_per_category}
    assert all(np.isnan(rows['cable'][k]) for k in ('image_AUROC', 'image_AP', 'image_F1max',
                                                    'pixel_AUROC', 'AUPRO'))
    assert rows['bottle']['image_AUROC'] == 100.0 and rows['bottle']['AUPRO'] == 100.0
    # the mean ignores the undefined category
    assert result == {'image_AUROC': 100.0, 'image_AP': 100.0, 'image_F1max': 100.0,
                      'pixel_AUROC': 100.0, 'pixel_F1max': 100.0, 'AUPRO': 100.0}


def test_metric_subset_smoothing_and_label_fallback():
    rng = np.random.default_rng(1)
    samples = []
    for i in range(4):
        mask = np.zeros((32, 32), bool)
        if i % 2:
            mask[10:20, 10:20] = True
        sample = _sample(mask, mask + rng.random((32, 32)), 0.0, 'all')
        del sample.pred_score  # falls back to the max of the (smoothed) map
        samples.append(sample)
    metric = AnomalyMetric(metrics=('image_AUROC', 'AUPRO'), gaussian_sigma=4.0)
    metric.process({}, samples)
    result = metric.compute_metrics(metric.results)
    assert list(result) == ['image_AUROC', 'AUPRO'] and result['image_AUROC'] == 100.0
    with pytest.raises(KeyError):
        AnomalyMetric(metrics=('bogus',))


# ----------------------------------------------------------------------------- size


def test_full_category_size_runs_fast():
    """100 images of 256x256 with a few regions each (MVTec category size)."""
    rng = np.random.default_rng(0)
    masks = np.zeros((100, 256, 256), bool)
    for n in range(0, 100, 2):
        for _ in range(3):
            y, x = rng.integers(0, 220, 2)
            masks[n, y:y + rng.integers(5, 35), x:x + rng.integers(5, 35)] = True
    maps = (rng.random(masks.shape, dtype=np.float32) + 0.5 * masks).astype(np.float32)
    value = aupro(masks, maps)  # no timing assertion: shared CPUs vary; ~2 s here
    auroc = pixel_auroc(masks, maps)
    assert 0.0 < value <= 1.0 and 0.5 < auroc <= 1.0
