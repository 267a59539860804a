"""Zero-shot splits: training samples keep the seen classes only; the metric reports hIoU."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.datasets.zero_shot import SeenClassesOnly
from ovperception.evaluation import ZeroShotIoUMetric, harmonic_iou
from ovperception.structures import OVDataSample


def test_unseen_classes_leave_the_vocabulary_and_the_labels():
    seg = np.array([[0, 1, 2], [3, 255, 1]], dtype=np.uint8)
    out = SeenClassesOnly(unseen_classes=[1, 3])(dict(
        gt_seg_map=seg, classnames=['sky', 'cat; kitten', 'dog', 'tree']))
    assert out['classnames'] == ['sky', 'dog']
    assert out['gt_seg_map'].tolist() == [[0, 255, 1], [255, 255, 255]]
    assert out['gt_seg_map'].dtype == np.uint8
    with pytest.raises(ValueError, match='out of the vocabulary'):
        SeenClassesOnly(unseen_classes=[4])(dict(gt_seg_map=seg, classnames=['a', 'b']))
    with pytest.raises(ValueError, match='at least one'):
        SeenClassesOnly(unseen_classes=[])
    with pytest.raises(ValueError, match='classnames'):
        SeenClassesOnly(unseen_classes=[0])(dict(gt_seg_map=seg))


def test_metric_reports_seen_unseen_and_harmonic_iou():
    metric = ZeroShotIoUMetric(unseen_classes=[2])
    metric.dataset_meta = dict(classes=['a', 'b', 'c'])
    sample = OVDataSample()
    sample.gt_sem_seg = PixelData(data=torch.tensor([[0, 0, 1, 1, 2, 2]])[None])
    sample.pred_sem_seg = PixelData(data=torch.tensor([[0, 0, 1, 2, 2, 1]])[None])
    metric.process({}, [sample])
    result = metric.evaluate(1)
    # IoU a = 100, b = 1/3, c = 1/3: seen mean 66.67, unseen 33.33
    assert result['mIoU_seen'] == pytest.approx(66.67, abs=0.01)
    assert result['mIoU_unseen'] == pytest.approx(33.33, abs=0.01)
    assert result['hIoU'] == pytest.approx(harmonic_iou(200 / 3, 100 / 3), abs=0.01)
    assert harmonic_iou(0.0, 0.0) == 0.0
