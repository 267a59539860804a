"""tools/dist_test.sh and tools/dist_train.sh with 2 processes on CPU (gloo), as a user runs
them: the scripts find the interpreter themselves (here through $PYTHON), no venv activated."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.scripts import ROOT, test_tool

TINY_FREE = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
TINY_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_adapted.py')
TRAIN_OPTIONS = ['train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
                 'param_scheduler.0.end=4', 'train_dataloader.batch_size=2']


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _launch(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT')}
    env.update(PYTHON=sys.executable, MASTER_PORT=str(_free_port()), CUDA_VISIBLE_DEVICES='',
               OMP_NUM_THREADS='1', PATH='/usr/bin:/bin')  # no venv on PATH: nothing activated
    done = subprocess.run([os.path.join(ROOT, 'tools', script), *args, ], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _metrics(work_dir) -> dict:
    return json.loads((work_dir / 'metrics.json').read_text())['metrics']


@pytest.mark.slow
def test_dist_test_of_a_training_free_config_equals_one_process(tmp_path):
    done = _launch('dist_test.sh', TINY_FREE, '2', '--work-dir', str(tmp_path / 'dist'))
    assert done.stdout.count('metrics written to') == 1  # rank 0 reports
    single = test_tool.main([TINY_FREE, '--work-dir', str(tmp_path / 'single')])
    assert _metrics(tmp_path / 'dist') == pytest.approx(single, abs=1e-6)


@pytest.mark.slow
def test_dist_train_runs_resumes_and_dist_test_of_it_equals_one_process(tmp_path):
    work = tmp_path / 'train'
    _launch('dist_train.sh', TINY_TRAIN, '2', '--work-dir', str(work), '--cfg-options',
            'train_cfg.max_iters=2', *TRAIN_OPTIONS)
    assert (work / 'iter_2.pth').is_file()
    _launch('dist_train.sh', TINY_TRAIN, '2', '--work-dir', str(work), '--resume',
            '--cfg-options', 'train_cfg.max_iters=4', *TRAIN_OPTIONS)
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_4.pth')
    weights = str(work / 'iter_4.pth')
    _launch('dist_test.sh', TINY_TRAIN, '2', '--work-dir', str(tmp_path / 'dist'),
            '--weights', weights)
    single = test_tool.main([TINY_TRAIN, '--work-dir', str(tmp_path / 'single'),
                             '--weights', weights])
    assert _metrics(tmp_path / 'dist') == pytest.approx(single, abs=1e-6)


def test_model_wrapper_cfg_is_settable_with_cfg_options(tmp_path):
    from ovperception.engine.runner_cli import load_config
    cfg = load_config(TINY_FREE, {'model_wrapper_cfg.find_unused_parameters': True},
                      str(tmp_path))
    assert cfg.model_wrapper_cfg == dict(find_unused_parameters=True)
