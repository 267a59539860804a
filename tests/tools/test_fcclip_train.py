"""FC-CLIP end to end: tools/train.py on synthetic panoptic shapes, resume, tools/test.py."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tests.scripts import ROOT, test_tool, train_tool

TINY_FCCLIP = os.path.join(ROOT, 'configs', 'tiny', 'fcclip_tiny.py')



@pytest.mark.slow
def test_fcclip_trains_resumes_and_beats_chance(tmp_path, one_thread):
    work = str(tmp_path / 'work')
    options = ['train_cfg.max_iters=160', 'train_cfg.val_interval=1000',
               'default_hooks.checkpoint.interval=140', 'param_scheduler.0.end=160']
    untrained = test_tool.main([TINY_FCCLIP, '--work-dir', str(tmp_path / 'before')])
    runner = train_tool.main([TINY_FCCLIP, '--work-dir', work, '--cfg-options', *options])
    assert runner.iter == 160
    history = runner.message_hub.get_scalar('train/loss').data[0]
    assert history[-10:].mean() < 0.4 * history[:5].mean(), 'the loss must fall'

    trained = test_tool.main([TINY_FCCLIP, '--work-dir', str(tmp_path / 'after'),
                              '--weights', os.path.join(work, 'iter_160.pth')])
    # 4 classes on held-out images (another seed): chance mIoU is about 25 at best
    assert trained['mIoU'] > 60 and trained['mIoU'] > untrained['mIoU'] + 30
    assert trained['PQ'] > 40 and trained['PQ'] > untrained['PQ'] + 30
    assert {'PQ_th', 'PQ_st', 'SQ', 'RQ'} <= set(trained)
    assert trained['coco/segm_mAP'] > untrained['coco/segm_mAP'] + 0.2  # instances learnt too

    # resuming from iteration 140 reproduces the losses of iterations 141..160
    resumed = train_tool.main([TINY_FCCLIP, '--work-dir', work, '--resume',
                               os.path.join(work, 'iter_140.pth'), '--cfg-options', *options])
    assert resumed.iter == 160
    again = resumed.message_hub.get_scalar('train/loss').data[0]
    assert np.allclose(again[-20:], history[-20:], rtol=1e-4, atol=1e-4)
