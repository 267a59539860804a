"""tools/dist_test.sh and tools/dist_train.sh with 2 processes on CPU (gloo), as a user runs
them: the scripts find the interpreter themselves (here through $PYTHON), no venv activated."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.scripts import ROOT, test_tool

TINY_FREE = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
TINY_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_adapted.py')
TRAIN_OPTIONS = ['train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=2',
                 'param_scheduler.0.end=4', 'train_dataloader.batch_size=2']


def _workers(launcher_pid: int) -> list[int]:
    """Process ids of the ranks torchrun (``launcher_pid``) started."""
    try:
        with open(f'/proc/{launcher_pid}/task/{launcher_pid}/children') as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:  # not Linux, or torchrun has ended
        return []


def _launch(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run tools/SCRIPT with 2 processes; fail with the output of every rank, prefixed by its
    rank, when it fails or hangs. torchrun --standalone binds its own free port (no port is
    chosen here, so none can be taken in between). Collectives time out after 300 s with an
    error naming the rank that did not arrive; should the launch still not end within
    ``timeout``, every rank gets SIGABRT, which makes it print its Python stacks
    (PYTHONFAULTHANDLER) before torchrun reports which ranks were aborted."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT', 'MASTER_ADDR')}
    env.update(PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               PYTHONFAULTHANDLER='1', PATH='/usr/bin:/bin',  # no venv on PATH: none activated
               TORCHRUN_ARGS='--tee 3 --log-line-prefix-template [rank${rank}]:')
    args += ('env_cfg.dist_cfg.timeout=300',) if '--cfg-options' in args else (
        '--cfg-options', 'env_cfg.dist_cfg.timeout=300')
    process = subprocess.Popen([os.path.join(ROOT, 'tools', script), *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        ranks = _workers(process.pid)  # dist_*.sh exec'd torchrun: the same process
        for pid in ranks:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGABRT)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
        pytest.fail(f'{script} did not end within {timeout} s; rank processes {ranks} were '
                    f'aborted:\n{stdout[-3000:]}{stderr[-6000:]}')
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
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


def test_close_process_group_waits_destroys_once_and_skips_the_barrier_after_an_error(
        monkeypatch):
    import torch.distributed as dist

    from ovperception.engine.distributed import close_process_group, closing_process_group
    barriers = []
    real_barrier = dist.monitored_barrier
    monkeypatch.setattr(dist, 'monitored_barrier',
                        lambda **kwargs: barriers.append(kwargs) or real_barrier(**kwargs))
    for failing in (False, True):
        dist.init_process_group('gloo', store=dist.HashStore(), rank=0, world_size=1)
        with contextlib.suppress(ZeroDivisionError), closing_process_group():
            if failing:
                1 / 0
        assert not dist.is_initialized()
    assert barriers == [dict(wait_all_ranks=True)]  # the failing rank does not wait
    close_process_group()  # no group: nothing to do, no error
