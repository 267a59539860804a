"""The config a run dumps into its work dir reruns through the tools and gives the same result;
a rerun of that file never overwrites it."""
from __future__ import annotations

import os

from tests.scripts import ROOT, test_tool, train_tool

TINY_TEST = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
TINY_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_adapted.py')


def test_dumped_config_reruns_to_the_same_metrics_and_is_kept(tmp_path):
    work = tmp_path / 'work'
    first = test_tool.main([TINY_TEST, '--work-dir', str(work)])
    dumped = work / 'seg_tiny.py'
    assert dumped.is_file(), 'the runner dumps the config it ran into the work dir'
    again = test_tool.main([str(dumped), '--work-dir', str(tmp_path / 'again')])
    assert again == first

    # rerun in its own work dir (no --work-dir: the dump names it) with another option
    text = dumped.read_text()
    test_tool.main([str(dumped), '--cfg-options', 'test_dataloader.batch_size=3'])
    assert dumped.read_text() == text, 'the input config must not be overwritten'
    run_copies = sorted(work.glob('2*/seg_tiny.py'))  # <timestamp>/seg_tiny.py of the rerun
    assert len(run_copies) == 1 and 'batch_size=3' in run_copies[0].read_text()


def test_trained_work_dir_config_evaluates_its_checkpoint(tmp_path):
    work = tmp_path / 'work'
    train_tool.main([TINY_TRAIN, '--work-dir', str(work), '--cfg-options',
                     'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                     'default_hooks.checkpoint.interval=2'])
    weights = str(work / 'iter_2.pth')
    from_dump = test_tool.main([str(work / 'seg_tiny_adapted.py'), '--weights', weights,
                                '--work-dir', str(tmp_path / 'dump')])
    from_source = test_tool.main([TINY_TRAIN, '--weights', weights,
                                  '--work-dir', str(tmp_path / 'source')])
    assert from_dump == from_source
