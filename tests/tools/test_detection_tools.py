"""tools/test.py, tools/train.py and the demo on the tiny detection configs."""
from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import torch
from mmengine.structures import InstanceData
from pycocotools.coco import COCO

from ovperception.datasets.synthetic_detection import make_synthetic_detection_sample
from ovperception.structures import OVDataSample
from ovperception.utils.atomic import atomic_save_image
from ovperception.writers import write_predictions
from tests.scripts import ROOT, demo, test_tool, train_tool

DET_TINY = os.path.join(ROOT, 'configs', 'tiny', 'det_tiny.py')
DET_TINY_LEARNED = os.path.join(ROOT, 'configs', 'tiny', 'det_tiny_learned.py')


def test_test_tool_reports_coco_box_and_mask_ap(tmp_path, one_thread):
    metrics = test_tool.main([DET_TINY, '--work-dir', str(tmp_path), '--show-dir', 'vis'])
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_l', 'coco/segm_mAP'):
        assert key in metrics
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['metrics']['coco/bbox_mAP'] == metrics['coco/bbox_mAP']
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 8


def test_train_learned_proposal_head_loss_falls_then_evaluate(tmp_path, one_thread):
    work = str(tmp_path / 'work')
    runner = train_tool.main([DET_TINY_LEARNED, '--work-dir', work, '--cfg-options',
                              'train_cfg.max_iters=40', 'train_cfg.val_interval=40',
                              'default_hooks.checkpoint.interval=40', 'param_scheduler.0.end=60'])
    assert runner.iter == 40
    history = runner.message_hub.get_scalar('train/loss').data[0]
    assert history[-5:].mean() < 0.75 * history[:5].mean(), history
    metrics = test_tool.main([DET_TINY_LEARNED, '--work-dir', str(tmp_path / 'eval'),
                              '--weights', os.path.join(work, 'iter_40.pth')])
    assert 'coco/bbox_mAP_50' in metrics


def test_demo_writes_overlay_and_importable_coco_json(tmp_path, one_thread):
    image_path = tmp_path / 'in' / 'shapes.png'
    atomic_save_image(image_path, make_synthetic_detection_sample(0)['img'])
    out = tmp_path / 'out'
    status = demo.main([str(image_path), '--vocab', 'red square, green circle; ring',
                        '--out', str(out), '--config', DET_TINY, '--pred-score-thr', '0.0'])
    assert status == 0
    assert (out / 'shapes_det_overlay.png').exists()
    coco = COCO()
    coco.dataset = json.loads((out / 'shapes_detections.json').read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == ['red square', 'green circle']
    assert coco.imgs[1]['height'] == 64 and len(coco.anns) > 0
    ann = next(iter(coco.anns.values()))
    assert coco.annToMask(ann).shape == (64, 96) and 0.0 <= ann['score'] <= 1.0


def test_detection_writer_known_output(tmp_path):
    sample = OVDataSample(metainfo=dict(label_names=['cat', 'dog']))
    masks = torch.zeros(2, 10, 12, dtype=torch.bool)
    masks[0, 1:4, 2:6] = True
    masks[1, 5:9, 6:12] = True
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[2.0, 1.0, 6.0, 4.0], [6.0, 5.0, 12.0, 9.0]]),
        labels=torch.tensor([0, 1]), scores=torch.tensor([0.9, 0.4]), masks=masks)
    written = write_predictions(str(tmp_path / 'x.png'), np.zeros((10, 12, 3), np.uint8), sample,
                                str(tmp_path / 'out'), [])
    assert sorted(os.path.basename(p) for p in written) == ['x_det_overlay.png',
                                                            'x_detections.json']
    data = json.loads((tmp_path / 'out' / 'x_detections.json').read_text())
    assert [a['bbox'] for a in data['annotations']] == [[2.0, 1.0, 4.0, 3.0], [6.0, 5.0, 6.0, 4.0]]
    assert [a['category_id'] for a in data['annotations']] == [1, 2]
    assert [a['area'] for a in data['annotations']] == [12, 24]


def test_predictor_encodes_once_and_detects_with_many_vocabularies(one_thread):
    from ovperception.apis import OVPredictor, init_model
    predictor = OVPredictor(init_model(DET_TINY))
    image = make_synthetic_detection_sample(1)['img']
    predictor.set_image(image)
    for vocabulary in (['red square', 'green circle'], 'blue triangle, red square; box'):
        sample = predictor.predict(vocabulary)
        instances = sample.pred_instances
        assert instances.bboxes.shape[1] == 4 and len(instances.labels) == len(instances.scores)
        assert (instances.bboxes[:, 2:] <= torch.tensor([96.0, 64.0])).all()
        assert len(sample.metainfo['label_names']) == 2


def test_sam_proposal_config_runs_end_to_end(tmp_path, one_thread):
    config = os.path.join(ROOT, 'configs', 'tiny', 'det_tiny_sam.py')
    metrics = test_tool.main([config, '--work-dir', str(tmp_path)])
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)
