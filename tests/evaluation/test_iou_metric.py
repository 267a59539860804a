"""IoUMetric: hand-computed answers and a per-pixel reference loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import PixelData
from PIL import Image

from ovperception.evaluation import IoUMetric, intersect_and_union
from ovperception.structures import OVDataSample

GT = [[0, 0, 1], [1, 2, 255]]
PRED = [[0, 1, 1], [1, 255, 2]]  # pred 255 counts in gt/union only


def _sample(pred, gt, **meta) -> OVDataSample:
    sample = OVDataSample(metainfo=meta)
    sample.pred_sem_seg = PixelData(data=torch.tensor(pred)[None])
    sample.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    return sample


def _metric(classes, **kwargs) -> IoUMetric:
    metric = IoUMetric(**kwargs)
    metric.dataset_meta = dict(classes=tuple(classes))
    return metric


def test_known_answer_with_ignore_and_absent_class():
    # kept pixels (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,255)
    # intersect [1,2,0], pred [1,3,0], label [2,2,1], union [2,3,1]; class 'd' absent -> nan
    metric = _metric('abcd')
    metric.process({}, [_sample(PRED, GT).to_dict()])
    result = metric.compute_metrics(metric.results)
    assert result == {'aAcc': 60.0, 'mIoU': round((0.5 + 2 / 3 + 0) / 3 * 100, 2),
                      'mAcc': 50.0}
    rows = {row['Class']: row for row in metric.last_per_class}
    assert rows['a']['IoU'] == 50.0 and rows['b']['IoU'] == 66.67 and rows['c']['IoU'] == 0.0
    assert np.isnan(rows['d']['IoU']) and np.isnan(rows['d']['Acc'])


def test_predicted_but_absent_class_counts_as_zero_iou():
    metric = _metric('ab')
    metric.process({}, [_sample([[1, 0]], [[0, 0]])])
    result = metric.compute_metrics(metric.results)
    assert result['mIoU'] == 25.0  # (0.5 + 0) / 2: union of 'b' is 1
    assert result['mAcc'] == 50.0  # Acc of 'b' is nan (no gt pixel), excluded


def test_areas_are_summed_over_images_not_averaged():
    metric = _metric('ab')
    metric.process({}, [_sample([[0, 0]], [[0, 0]]), _sample([[1, 1, 1, 0]], [[0, 0, 0, 0]])])
    result = metric.compute_metrics(metric.results)
    assert result['mIoU'] == round((3 / 6 + 0) / 2 * 100, 2)  # per-image mean would differ


def test_dice_and_fscore():
    metric = _metric('abc', iou_metrics=['mDice', 'mFscore'])
    metric.process({}, [_sample(PRED, GT)])
    result = metric.compute_metrics(metric.results)
    assert result['mDice'] == round((2 / 3 + 0.8 + 0) / 3 * 100, 2)
    assert result['mFscore'] == round((2 / 3 + 0.8) / 2 * 100, 2)  # 'c': P = 0/0 -> nan
    assert result['mPrecision'] == round((1 + 2 / 3) / 2 * 100, 2)
    assert result['mRecall'] == 50.0 and result['mAcc'] == 50.0


def _naive(preds, gts, num_classes, ignore=255):
    inter, pred_area, label_area = (np.zeros(num_classes) for _ in range(3))
    for pred, gt in zip(preds, gts):
        for p, g in zip(pred.ravel().tolist(), gt.ravel().tolist()):
            if g == ignore:
                continue
            if 0 <= g < num_classes:
                label_area[g] += 1
            if 0 <= p < num_classes:
                pred_area[p] += 1
                if p == g:
                    inter[p] += 1
    union = pred_area + label_area - inter
    with np.errstate(divide='ignore', invalid='ignore'):
        return inter / union, inter / label_area, inter.sum() / label_area.sum()


def test_matches_per_pixel_reference_on_random_arrays():
    rng = np.random.default_rng(0)
    num_classes = 5
    preds = [rng.integers(-1, 7, size=(7, 9)) for _ in range(3)]  # includes out-of-range
    gts = [np.where(rng.random((7, 9)) < 0.2, 255, rng.integers(0, num_classes - 1, (7, 9)))
           for _ in range(3)]
    metric = _metric([f'c{i}' for i in range(num_classes)])
    metric.process({}, [_sample(p.tolist(), g.tolist()) for p, g in zip(preds, gts)])
    result = metric.compute_metrics(metric.results)
    iou, acc, aacc = _naive(preds, gts, num_classes)
    assert result['aAcc'] == round(aacc * 100, 2)
    assert result['mIoU'] == round(np.nanmean(iou) * 100, 2)
    assert result['mAcc'] == round(np.nanmean(acc) * 100, 2)
    np.testing.assert_allclose([row['IoU'] for row in metric.last_per_class],
                               np.round(iou * 100, 2), equal_nan=True)


def test_shape_mismatch_names_both_shapes():
    metric = _metric('ab')
    with pytest.raises(ValueError, match=r'\(2, 3\).*\(4, 6\)'):
        metric.process({}, [_sample(np.zeros((2, 3), int).tolist(),
                                    np.zeros((4, 6), int).tolist())])
    with pytest.raises(ValueError, match='differs'):
        intersect_and_union(torch.zeros(2, 2), torch.zeros(3, 3), 2)


def test_through_mmengine_evaluator():
    evaluator = Evaluator(metrics=[dict(type='ovperception.IoUMetric')])
    evaluator.dataset_meta = dict(classes=('a', 'b', 'c'))
    evaluator.process([_sample(PRED, GT)])
    assert evaluator.evaluate(1) == {'aAcc': 60.0, 'mIoU': 38.89, 'mAcc': 50.0}


def test_output_dir_writes_predictions(tmp_path):
    metric = _metric('abc', output_dir=str(tmp_path / 'preds'), format_only=True)
    metric.process({}, [_sample([[0, 2]], [[0, 0]], img_path='/data/x/img_1.jpg',
                                reduce_zero_label=True)])
    assert metric.compute_metrics(metric.results) == {}
    written = np.asarray(Image.open(tmp_path / 'preds' / 'img_1.png'))
    np.testing.assert_array_equal(written, [[1, 3]])
    with pytest.raises(ValueError, match='output_dir'):
        IoUMetric(format_only=True)
