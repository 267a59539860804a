"""ExCEL trained from image tags through tools/train.py (both LVC phases), resumed, evaluated by
tools/test.py --weights, and used by the demo and tools/annotate.py (trained segmenter)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.scripts import ROOT, demo, load_script, test_tool, train_tool

annotate = load_script('tools/annotate.py')
TINY_EXCEL_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel_train.py')


@pytest.mark.slow
def test_train_resume_test_demo_and_annotate_the_tiny_config(tmp_path):
    work = str(tmp_path / 'work')
    options = ['train_cfg.max_iters=30', 'train_cfg.val_interval=30',
               'default_hooks.checkpoint.interval=15', 'default_hooks.logger.interval=1',
               'param_scheduler.0.end=30']
    runner = train_tool.main([TINY_EXCEL_TRAIN, '--work-dir', work, '--cfg-options', *options])
    assert runner.iter == 30 and int(runner.model.train_iter) == 30
    # 30 random crops of a random tower: the loss is noisy here; that training lowers it is
    # tested on a fixed batch (test_excel_segmenter.py)
    seg = runner.message_hub.get_scalar('train/loss_seg').data[0]
    assert len(seg) == 30 and np.isfinite(seg).all()
    assert not runner.model.backbone.training

    # resume from iteration 15: the counter (and so the LVC phase) continues
    resumed = train_tool.main([TINY_EXCEL_TRAIN, '--work-dir', work, '--resume',
                               os.path.join(work, 'iter_15.pth'), '--cfg-options', *options])
    assert resumed.iter == 30 and int(resumed.model.train_iter) == 30

    weights = os.path.join(work, 'iter_30.pth')
    metrics = test_tool.main([TINY_EXCEL_TRAIN, '--weights', weights, '--work-dir',
                              str(tmp_path / 'test')])
    assert 0.0 <= metrics['mIoU'] <= 100.0

    image = tmp_path / 'in' / 'img.png'
    image.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (70, 93, 3), dtype=np.uint8)).save(image)
    assert demo.main([str(image), '--vocab', 'Red Square, grey striped background',
                      '--config', TINY_EXCEL_TRAIN, '--weights', weights,
                      '--out', str(tmp_path / 'demo')]) == 0
    labels = np.asarray(Image.open(tmp_path / 'demo' / 'img_labels.png'))
    assert labels.shape == (70, 93) and set(np.unique(labels)) <= {1, 2}  # class index + 1
    out = tmp_path / 'annotated'
    assert annotate.main([str(image.parent), '--vocab', 'red square, blue triangle',
                          '--out', str(out), '--config', TINY_EXCEL_TRAIN, '--weights', weights,
                          '--device', 'cpu', '--format', 'coco', '--min-area', '1',
                          '--no-progress']) == 0
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['images'] == 1 and not summary['failed']
