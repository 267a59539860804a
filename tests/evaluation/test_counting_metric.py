"""MAE / RMSE (named correctly) with known answers, per split prefixes, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ovperception.evaluation import CountingMetric, counting_errors
from ovperception.structures import OVDataSample


def test_known_answers():
    errors = counting_errors([3, 5, 10], [1, 5, 6])
    assert errors['MAE'] == pytest.approx((2 + 0 + 4) / 3)
    assert errors['RMSE'] == pytest.approx(math.sqrt((4 + 0 + 16) / 3))  # not the MSE (6.67)
    assert errors['NAE'] == pytest.approx((2 / 1 + 0 + 4 / 6) / 3)
    assert errors['SRE'] == pytest.approx(math.sqrt((4 / 1 + 0 + 16 / 6) / 3))


def test_zero_count_images_count_for_mae_but_not_nae():
    errors = counting_errors([2.0, 0.0], [0.0, 0.0])
    assert errors['MAE'] == 1.0 and errors['RMSE'] == pytest.approx(math.sqrt(2))
    assert math.isnan(errors['NAE'])


def _sample(pred, gt=None):
    sample = OVDataSample(metainfo=dict(img_path='a.jpg'))
    sample.pred_count = torch.as_tensor(pred, dtype=torch.float32)
    if gt is not None:
        sample.gt_count = torch.as_tensor(gt, dtype=torch.float32)
    return sample


@pytest.mark.parametrize('prefix', ['val', 'test'])
def test_metric_reports_per_split_with_scalar_and_per_class_counts(prefix):
    metric = CountingMetric(metrics=['MAE', 'RMSE', 'NAE'], prefix=prefix)
    metric.dataset_meta = dict(classes=('person',))
    metric.process({}, [_sample([4.0], [2.0]), _sample(7.0, 7.0)])
    metric.process({}, [_sample([1.0, 2.0], [0.0, 5.0])])
    out = metric.evaluate(3)
    assert out[f'{prefix}/MAE'] == pytest.approx((2 + 0 + 1 + 3) / 4)
    assert out[f'{prefix}/RMSE'] == pytest.approx(math.sqrt((4 + 0 + 1 + 9) / 4))
    assert set(out) == {f'{prefix}/MAE', f'{prefix}/RMSE', f'{prefix}/NAE'}


def test_bad_input_is_named():
    metric = CountingMetric()
    with pytest.raises(KeyError, match='no gt_count'):
        metric.process({}, [_sample([1.0])])
    with pytest.raises(ValueError, match='differ'):
        metric.process({}, [_sample([1.0, 2.0], [1.0])])
    with pytest.raises(ValueError, match='non-finite'):
        counting_errors([float('nan')], [1.0])
    with pytest.raises(KeyError):
        CountingMetric(metrics=['MSE'])


def test_best_count_threshold_known_answer():
    from ovperception.evaluation.counting_metric import best_count_threshold
    scores = [np.array([0.9, 0.8, 0.3]), np.array([0.6, 0.2]), np.array([])]
    threshold, mae = best_count_threshold(scores, [2, 1, 0], thresholds=[0.1, 0.5, 0.85])
    assert threshold == 0.5 and mae == 0.0
    threshold, mae = best_count_threshold(scores, [2, 1, 0], thresholds=[0.85, 0.95])
    assert threshold == 0.85 and mae == pytest.approx((1 + 1 + 0) / 3)
    # PseCo counts scores > thresh: a score equal to a threshold is not counted
    threshold, mae = best_count_threshold([np.array([0.5])], [0], thresholds=[0.5])
    assert mae == 0.0


def test_metric_sweeps_the_detection_threshold():
    from mmengine.structures import InstanceData
    metric = CountingMetric(prefix='val', sweep_thresholds=True)
    sample = _sample([3.0], [2.0])
    sample.pred_instances = InstanceData(scores=torch.tensor([0.9, 0.7, 0.2]))
    metric.process({}, [sample])
    out = metric.evaluate(1)
    assert out['val/MAE'] == 1.0 and out['val/MAE_at_best'] == 0.0
    assert 0.2 < out['val/best_threshold'] <= 0.7
    with pytest.raises(KeyError, match='scores'):
        metric.process({}, [_sample([1.0], [1.0])])
