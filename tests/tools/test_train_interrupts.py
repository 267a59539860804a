"""Interrupted training (issue 17): atomic checkpoints, --resume with nothing to resume,
no silent overwrite of an earlier run's checkpoints."""
from __future__ import annotations

import os

import pytest

import ovperception.engine.local_runner as runner_module  # the runner's checkpoint writer
from ovperception.engine.atomic_checkpoint import NothingToResumeError
from tests.scripts import ROOT, train_tool

TINY_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_adapted.py')
OPTIONS = ['train_cfg.max_iters=4', 'train_cfg.val_interval=100',
           'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=4',
           'train_dataloader.batch_size=1']


def _train(work, *extra):
    return train_tool.main([TINY_TRAIN, '--work-dir', str(work), *extra,
                            '--cfg-options', *OPTIONS])


def test_interrupt_while_saving_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch):
    saves = []
    real_save = runner_module.save_checkpoint

    def save_then_interrupt(checkpoint, filepath, **kwargs):
        saves.append(filepath)
        if len(saves) == 2:  # the second save is cut off half-way by Ctrl-C
            with open(filepath, 'wb') as handle:
                handle.write(b'half a checkpoint')
            raise KeyboardInterrupt
        real_save(checkpoint, filepath, **kwargs)

    monkeypatch.setattr(runner_module, 'save_checkpoint', save_then_interrupt)
    work = tmp_path / 'work'
    with pytest.raises(KeyboardInterrupt):
        _train(work)
    names = sorted(os.listdir(work))
    assert 'iter_2.pth' in names and 'iter_4.pth' not in names
    assert not [n for n in names if n.endswith('.tmp')], names
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_2.pth')
    monkeypatch.setattr(runner_module, 'save_checkpoint', real_save)

    # starting again without --resume would overwrite iter_2.pth: refused
    with pytest.raises(FileExistsError, match='--resume'):
        _train(work)
    runner = _train(work, '--resume')
    assert runner.iter == 4 and (work / 'iter_4.pth').is_file()


def test_resume_with_nothing_to_resume_stops_unless_asked_to_start(tmp_path):
    with pytest.raises(NothingToResumeError, match='nothing to resume'):
        _train(tmp_path / 'empty', '--resume')
    assert not list((tmp_path / 'empty').glob('*.pth'))
    runner = _train(tmp_path / 'empty', '--resume-or-start')
    assert runner.iter == 4


def test_test_tool_is_short_unless_verbose(tmp_path, capsys):
    from tests.scripts import test_tool
    config = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
    test_tool.main([config, '--work-dir', str(tmp_path / 'quiet')])
    quiet = capsys.readouterr()
    test_tool.main([config, '--work-dir', str(tmp_path / 'verbose'), '--verbose'])
    verbose = capsys.readouterr()
    quiet_lines = (quiet.out + quiet.err).count('\n')
    assert quiet_lines < 15, quiet.out
    assert (verbose.out + verbose.err).count('\n') > 5 * quiet_lines
    logs = list((tmp_path / 'quiet').rglob('*.log'))
    assert logs and 'System environment' in ''.join(p.read_text() for p in logs)  # file keeps all
