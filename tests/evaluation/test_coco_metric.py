"""CocoMetric against pycocotools on hand-built ground truth; OV split; LVIS import error."""
from __future__ import annotations

import contextlib
import io
import json
import sys

import numpy as np

import pytest
import torch
from mmengine.structures import InstanceData
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ovperception.evaluation import CocoMetric, LVISMetric
from ovperception.structures import OVDataSample

GT = {  # image id -> list of (xyxy box, label)
    7: [([10, 10, 50, 60], 0), ([60, 20, 90, 40], 1), ([5, 70, 25, 95], 2)],
    9: [([0, 0, 30, 30], 1), ([40, 40, 80, 90], 0)],
}
PRED = {  # image id -> list of (xyxy box, label, score)
    7: [([12, 11, 50, 58], 0, 0.9), ([61, 22, 88, 41], 1, 0.8), ([60, 20, 90, 40], 0, 0.3),
        ([40, 70, 60, 95], 2, 0.6)],
    9: [([2, 1, 31, 29], 1, 0.7), ([45, 40, 80, 85], 0, 0.95), ([0, 0, 10, 10], 2, 0.2)],
}
CLASSES = ('cat', 'dog', 'cow')


def _sample(img_id, with_gt=True):
    sample = OVDataSample(metainfo=dict(img_id=img_id, ori_shape=(100, 100)))
    boxes, labels, scores = zip(*[(b, l, s) for b, l, s in PRED[img_id]])
    sample.pred_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                         labels=torch.tensor(labels),
                                         scores=torch.tensor(scores))
    if with_gt:
        gt_boxes, gt_labels = zip(*GT[img_id])
        sample.gt_instances = InstanceData(bboxes=torch.tensor(gt_boxes, dtype=torch.float32),
                                           labels=torch.tensor(gt_labels))
    return sample


def _evaluate(metric, samples, meta=None):
    metric.dataset_meta = meta if meta is not None else dict(classes=CLASSES)
    metric.process({}, [s.to_dict() for s in samples])  # as mmengine's Evaluator passes them
    return metric.evaluate(len(samples))


def _coco_json(cat_ids=(1, 2, 3)):
    images = [dict(id=i, height=100, width=100, file_name=f'{i}.jpg') for i in GT]
    annotations = []
    for img_id, objects in GT.items():
        for box, label in objects:
            x1, y1, x2, y2 = box
            annotations.append(dict(id=len(annotations) + 1, image_id=img_id,
                                    category_id=cat_ids[label], bbox=[x1, y1, x2 - x1, y2 - y1],
                                    area=(x2 - x1) * (y2 - y1), iscrowd=0))
    return dict(images=images, annotations=annotations,
                categories=[dict(id=c, name=n) for c, n in zip(cat_ids, CLASSES)])


def _pycocotools_stats(gt_json, cat_ids, max_dets=(100, 300, 1000)):
    coco = COCO()
    coco.dataset = gt_json
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        results = [dict(image_id=i, category_id=cat_ids[l], score=s,
                        bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]])
                   for i, preds in PRED.items() for b, l, s in preds]
        evaluator = COCOeval(coco, coco.loadRes(results), 'bbox')
        evaluator.params.maxDets = list(max_dets)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def test_matches_pycocotools_on_hand_built_ground_truth():
    metrics = _evaluate(CocoMetric(), [_sample(7), _sample(9)])
    reference = _pycocotools_stats(_coco_json(), (1, 2, 3))
    keys = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l']
    for index, key in enumerate(keys):
        assert metrics[f'coco/bbox_{key}'] == pytest.approx(round(reference.stats[index], 3))
    # a value worked out by hand: at IoU 0.5 every object is found except the cow
    # (IoU 0.33); cat, dog AP50 = 1, cow 0 -> mAP_50 = 2/3
    assert metrics['coco/bbox_mAP_50'] == pytest.approx(0.667)


def test_ann_file_with_non_contiguous_category_ids(tmp_path):
    cat_ids = (3, 17, 90)
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(_coco_json(cat_ids)))
    metric = CocoMetric(ann_file=str(path), classwise=True)
    metrics = _evaluate(metric, [_sample(7, False), _sample(9, False)],
                        dict(classes=CLASSES, cat_ids=list(cat_ids)))
    reference = _pycocotools_stats(_coco_json(cat_ids), cat_ids)
    assert metrics['coco/bbox_mAP'] == pytest.approx(round(reference.stats[0], 3))
    assert metrics['coco/bbox_cow_precision'] == pytest.approx(0.0)
    # without cat_ids, classes are matched to category names
    by_name = _evaluate(CocoMetric(ann_file=str(path)), [_sample(7, False), _sample(9, False)])
    assert by_name['coco/bbox_mAP'] == metrics['coco/bbox_mAP']


def test_ov_split_base_and_novel_ap50():
    meta = dict(classes=CLASSES, base_classes=('cat', 'dog'), novel_classes=('cow',))
    metrics = _evaluate(CocoMetric(), [_sample(7), _sample(9)], meta)
    assert metrics['coco/bbox_base_ap50'] == pytest.approx(1.0)
    assert metrics['coco/bbox_novel_ap50'] == pytest.approx(0.0)
    assert 0 < metrics['coco/bbox_base_ap'] < 1
    explicit = _evaluate(CocoMetric(base_classes=['cow'], novel_classes=['cat']),
                         [_sample(7), _sample(9)])
    assert explicit['coco/bbox_novel_ap50'] == pytest.approx(1.0)
    assert explicit['coco/bbox_base_ap50'] == pytest.approx(0.0)


def test_perfect_masks_and_boxes_give_ap_one():
    sample = OVDataSample(metainfo=dict(img_id=1, ori_shape=(20, 20)))
    masks = torch.zeros(2, 20, 20, dtype=torch.bool)
    masks[0, 2:8, 3:9] = True
    masks[1, 10:18, 10:20] = True
    boxes = torch.tensor([[3, 2, 9, 8], [10, 10, 20, 18]], dtype=torch.float32)
    sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, 1]), masks=masks)
    sample.pred_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, 1]),
                                         scores=torch.tensor([0.5, 0.9]), masks=masks)
    metrics = _evaluate(CocoMetric(metric=['bbox', 'segm']), [sample],
                        dict(classes=('a', 'b')))
    assert metrics['coco/bbox_mAP'] == pytest.approx(1.0)
    assert metrics['coco/segm_mAP'] == pytest.approx(1.0)


def test_no_detections_and_bad_inputs(tmp_path):
    sample = _sample(7)
    sample.pred_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long(),
                                         scores=torch.zeros(0))
    metrics = _evaluate(CocoMetric(), [sample])
    assert metrics['coco/bbox_mAP'] == 0.0
    with pytest.raises(KeyError, match='gt_instances'):
        _evaluate(CocoMetric(), [_sample(7, with_gt=False)])
    with pytest.raises(ValueError, match='metric'):
        CocoMetric(metric='proposal_fast')
    with pytest.raises(FileNotFoundError, match='missing.json'):
        CocoMetric(ann_file=str(tmp_path / 'missing.json'))
    bad = _sample(7)
    bad.pred_instances.bboxes[0, 0] = float('nan')
    with pytest.raises(FloatingPointError):
        _evaluate(CocoMetric(), [bad])


def test_lvis_metric_needs_the_lvis_api(monkeypatch):
    monkeypatch.setitem(sys.modules, 'lvis', None)  # as if not installed
    with pytest.raises(ImportError, match='pip install lvis'):
        LVISMetric(ann_file='lvis_v1_val.json')


LVIS_IMAGES = [  # federated labels: negative and not-exhaustive categories per image
    dict(id=7, height=100, width=100, neg_category_ids=[3], not_exhaustive_category_ids=[]),
    dict(id=9, height=100, width=100, neg_category_ids=[], not_exhaustive_category_ids=[1]),
]
LVIS_CATEGORIES = [dict(id=1, name='cat', frequency='f'), dict(id=2, name='dog', frequency='c'),
                   dict(id=3, name='cow', frequency='r')]


def _lvis_file(tmp_path):
    annotations = []
    for img_id, objects in GT.items():
        for (x0, y0, x1, y1), label in objects:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=label + 1,
                bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0),
                segmentation=[[x0, y0, x1, y0, x1, y1, x0, y1]]))
    path = tmp_path / 'lvis_tiny.json'
    path.write_text(json.dumps(dict(images=LVIS_IMAGES, annotations=annotations,
                                    categories=LVIS_CATEGORIES)))
    return str(path)


def test_lvis_metric_equals_lvis_eval_run_directly(tmp_path, monkeypatch):
    from lvis import LVIS, LVISEval, LVISResults
    ann_file = _lvis_file(tmp_path)
    ours = _evaluate(LVISMetric(ann_file=ann_file),
                     [_sample(7, with_gt=False), _sample(9, with_gt=False)],
                     dict(classes=CLASSES, cat_ids=[1, 2, 3]))
    detections = [dict(image_id=img_id, category_id=label + 1, score=score,
                       bbox=[x0, y0, x1 - x0, y1 - y0])
                  for img_id, preds in PRED.items() for (x0, y0, x1, y1), label, score in preds]
    monkeypatch.setattr(np, 'float', float, raising=False)  # lvis 0.5.3 under NumPy 2
    gt = LVIS(ann_file)
    evaluator = LVISEval(gt, LVISResults(gt, detections, max_dets=300), 'bbox')
    evaluator.run()
    expected = evaluator.get_results()
    assert set(ours) == {f'lvis/bbox_{key}' for key in expected}
    for key, value in expected.items():
        assert ours[f'lvis/bbox_{key}'] == pytest.approx(round(float(value), 3), abs=1e-9)
    assert 0 < ours['lvis/bbox_AP'] < 1
    monkeypatch.undo()
    assert 'float' not in vars(np)  # the alias lives only while the LVIS API runs
