"""Chimera-Seg through tools/train.py (seen classes only), tools/test.py (hIoU), the demo and
tools/annotate.py on its tiny config."""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from tests.scripts import ROOT, demo, load_script, test_tool, train_tool

annotate = load_script('tools/annotate.py')
TINY_CHIMERA = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_chimera_train.py')


def test_train_test_demo_and_annotate_the_tiny_config(tmp_path):
    work = str(tmp_path / 'work')
    runner = train_tool.main([TINY_CHIMERA, '--work-dir', work, '--cfg-options',
                              'train_cfg.max_iters=20', 'train_cfg.val_interval=20',
                              'default_hooks.checkpoint.interval=20',
                              'default_hooks.logger.interval=1'])
    assert runner.iter == 20 and int(runner.model.sgd_step) == 20
    seg = runner.message_hub.get_scalar('train/loss_seg').data[0]
    assert seg[-3:].mean() < 0.8 * seg[:3].mean(), 'the segmentation loss must fall'
    weights = os.path.join(work, 'iter_20.pth')
    metrics = test_tool.main([TINY_CHIMERA, '--weights', weights, '--work-dir',
                              str(tmp_path / 'test')])
    assert {'mIoU', 'mIoU_seen', 'mIoU_unseen', 'hIoU'} <= set(metrics)
    assert 0.0 <= metrics['hIoU'] <= 100.0

    image = tmp_path / 'in' / 'img.png'
    image.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (70, 93, 3), dtype=np.uint8)).save(image)
    assert demo.main([str(image), '--vocab', 'cat, dog; puppy, background', '--config',
                      TINY_CHIMERA, '--weights', weights, '--out', str(tmp_path / 'demo')]) == 0
    labels = np.asarray(Image.open(tmp_path / 'demo' / 'img_labels.png'))
    assert labels.shape == (70, 93) and labels.max() <= 3
    out = tmp_path / 'annotated'
    assert annotate.main([str(image.parent), '--vocab', 'cat, dog; puppy', '--out', str(out),
                          '--config', TINY_CHIMERA, '--weights', weights, '--device', 'cpu',
                          '--format', 'coco', '--min-area', '1', '--no-progress']) == 0
    coco = json.loads((out / 'coco' / 'annotations.json').read_text())
    assert [c['name'] for c in coco['categories']] == ['cat', 'dog']
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['images'] == 1 and not summary['failed']
