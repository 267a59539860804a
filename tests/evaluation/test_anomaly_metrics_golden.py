"""Anomaly metrics against the official code's numbers on fixed maps
(tests/fixtures/golden/anomaly_metrics/NOTE.md), and the memory-bounded binned path."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ovperception.evaluation.anomaly import AnomalyMetric, aupro, thresholded_aupro
from ovperception.evaluation.anomaly.curves import average_precision, f1_max, roc_auc

GOLDEN = Path(__file__).parents[1] / 'fixtures' / 'golden' / 'anomaly_metrics'
SETS = ('smooth', 'ties', 'many')


def _load(name: str) -> dict:
    return dict(np.load(GOLDEN / f'{name}.npz'))


@pytest.mark.parametrize('name', SETS)
def test_thresholded_aupro_is_anomalyclips_cal_pro_score(name):
    data = _load(name)
    value = thresholded_aupro(data['masks'], data['maps'])
    assert value == pytest.approx(float(data['pro_thresholded']), abs=1e-12)
    assert aupro(list(data['masks']), list(data['maps']), variant='thresholded') == value
    assert abs(aupro(data['masks'], data['maps']) - value) > 1e-4  # the variants differ


@pytest.mark.parametrize('name', SETS)
def test_pixel_and_image_curves_are_sklearns(name):
    data = _load(name)
    masks, maps = data['masks'].ravel(), data['maps'].ravel()
    for fn, key in ((roc_auc, 'pixel_auroc'), (average_precision, 'pixel_ap'),
                    (f1_max, 'pixel_f1max')):
        assert fn(masks, maps, 'pixel') == pytest.approx(float(data[key]), abs=1e-12)
    for fn, key in ((roc_auc, 'image_auroc'), (average_precision, 'image_ap'),
                    (f1_max, 'image_f1max')):
        assert fn(data['labels'], data['scores']) == pytest.approx(float(data[key]), abs=1e-12)


def _metric_samples(data: dict) -> list[dict]:
    return [dict(pred_anomaly_map=amap[None], gt_anomaly_map=mask[None].astype(np.float32),
                 pred_score=np.float32(score), gt_score=np.float32(label), category='c')
            for amap, mask, score, label in zip(data['maps'], data['masks'], data['scores'],
                                                data['labels'])]


@pytest.mark.parametrize('name', SETS)
def test_binned_pixel_metrics_agree_with_the_exact_ones(name):
    data = _load(name)
    results = {}
    for limit in (None, 0):  # exact / binned image by image
        metric = AnomalyMetric(aupro_variant='thresholded', pixel_exact_limit=limit)
        metric.process({}, _metric_samples(data))
        results[limit] = metric.compute_metrics(metric.results)
    exact, binned = results[None], results[0]
    assert exact['AUPRO'] == binned['AUPRO'] == round(float(data['pro_thresholded']) * 100, 2)
    assert exact['pixel_AUROC'] == round(float(data['pixel_auroc']) * 100, 2)
    for key in ('pixel_AUROC', 'pixel_F1max', 'image_AUROC'):
        assert binned[key] == pytest.approx(exact[key], abs=0.011)
    mvtec = AnomalyMetric(pixel_exact_limit=0)
    mvtec.process({}, _metric_samples(data))
    exact_mvtec = aupro(data['masks'], data['maps']) * 100
    assert mvtec.compute_metrics(mvtec.results)['AUPRO'] == pytest.approx(exact_mvtec, abs=0.011)


def test_binned_pixel_metrics_need_memory_of_one_image_not_the_category():
    rng = np.random.default_rng(0)
    masks = np.zeros((40, 200, 200), bool)
    masks[::2, 50:90, 60:120] = True
    maps = (rng.random((40, 200, 200)) + masks).astype(np.float32)
    samples = [dict(pred_anomaly_map=m[None], gt_anomaly_map=k[None].astype(np.float32),
                    pred_score=np.float32(0.5), gt_score=np.float32(k.any()), category='c')
               for m, k in zip(maps, masks)]
    peaks = {}
    for limit in (None, 0):
        metric = AnomalyMetric(pixel_exact_limit=limit, aupro_variant='thresholded',
                               pixel_num_bins=4096,
                               metrics=('pixel_AUROC', 'pixel_AP', 'AUPRO'))
        metric.process({}, samples)
        tracemalloc.start()
        metric.compute_metrics(metric.results)
        peaks[limit] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    category_float64 = maps.size * 8
    assert peaks[None] > category_float64  # exact: concatenation + sort
    assert peaks[0] < category_float64 / 4  # binned: one image + histograms


def test_thresholds_passed_equals_a_binary_search_with_ties_and_out_of_range_values():
    from ovperception.evaluation.anomaly.threshold_counts import thresholds_passed
    rng = np.random.default_rng(1)
    values = rng.random(20000, dtype=np.float32)
    tied = np.round(values * 50).astype(np.float32) / 50
    float32_steps = np.arange(np.float32(0), np.float32(1), np.float32(1 / 200))
    for thresholds in (np.linspace(0, 1, 4096), float32_steps, np.array([0.5]),
                       np.sort(rng.random(300))):
        probe = np.r_[values, tied, thresholds.astype(np.float32), np.float32(-1), np.float32(2)]
        for strict, side in ((True, 'left'), (False, 'right')):
            np.testing.assert_array_equal(thresholds_passed(probe, thresholds, strict),
                                          np.searchsorted(thresholds, probe, side=side))
