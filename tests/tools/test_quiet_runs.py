"""Train and test runs log none of mmengine's avoidable warnings: the scope registers its
optimizer-wrapper-constructor node, metrics state their (empty) prefix, and checkpoints are
saved without mmengine's deprecated FileClient / HardDiskBackend."""
from __future__ import annotations

import glob
import os

import torch

from tests.scripts import ROOT, test_tool, train_tool

NOISE = ('Failed to search registry', 'The prefix is not set', '"FileClient" will be deprecated',
         '"HardDiskBackend" is the alias')


def _log_text(work_dir: str) -> str:
    logs = glob.glob(os.path.join(work_dir, '*', '*.log'))
    assert logs, f'no log file under {work_dir}'
    return ''.join(open(path, encoding='utf-8').read() for path in logs)


def test_train_and_test_runs_log_no_mmengine_deprecation_or_scope_warnings(tmp_path, one_thread):
    work = str(tmp_path / 'train')
    train_tool.main([os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_adapted.py'),
                     '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2',
                     'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=1',
                     'default_hooks.checkpoint.max_keep_ckpts=1'])
    text = _log_text(work)
    assert not [noise for noise in NOISE if noise in text], text
    assert sorted(os.listdir(work)) == sorted(
        [os.path.basename(p) for p in glob.glob(os.path.join(work, '2*'))]
        + ['iter_2.pth', 'last_checkpoint', 'seg_tiny_adapted.py'])  # iter_1 rotated out
    checkpoint = torch.load(os.path.join(work, 'iter_2.pth'), map_location='cpu',
                            weights_only=False)
    assert checkpoint['meta']['iter'] == 2 and {'state_dict', 'optimizer', 'param_schedulers',
                                               'message_hub'} <= set(checkpoint)
    test_work = str(tmp_path / 'test')
    metrics = test_tool.main([os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py'),
                              '--work-dir', test_work])
    assert 'mIoU' in metrics  # no 'prefix/' before the names
    text = _log_text(test_work)
    assert not [noise for noise in NOISE if noise in text], text
