"""DenseCRF ``workers``: the CRFs of a batch on worker processes give the serial result bit for
bit (golden fixture, a tiny ExCEL batch), the option is checked, Ctrl-C leaves no worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ovperception.models.refiners import dense_crf as dense_crf_module
from ovperception.models.refiners.dense_crf import DenseCRF, check_dense_crf_cfg
from ovperception.structures import OVDataSample
from ovperception.utils import process_pool
from tests.models.test_dense_crf import golden_case
from tests.models.test_excel_crf import tiny21

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def golden_pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(image, probabilities) of both golden cases, also mirrored: four CRFs."""
    pairs = []
    for name in ('rgb', 'gray'):
        image, logits, _, _ = golden_case(name)
        probs = F.interpolate(logits, size=image.shape[-2:], mode='bilinear',
                              align_corners=False)[0].softmax(0)
        pairs += [(image, probs), (image.flip(-1), probs.flip(-1))]
    return pairs


def test_workers_give_the_serial_marginals_bit_for_bit(monkeypatch) -> None:
    calls = []
    parallel_map = dense_crf_module.ordered_map
    monkeypatch.setattr(dense_crf_module, 'ordered_map',
                        lambda *args: calls.append(args[-1]) or parallel_map(*args))
    pairs = golden_pairs()
    serial = DenseCRF(workers=1).map(iter(pairs))
    assert calls == []   # one worker: in this process
    parallel = DenseCRF(workers=2).map(iter(pairs))
    assert calls == [2]
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel)) and len(parallel) == 4
    for (image, probs), marginals in zip(pairs, parallel):
        assert marginals.dtype == torch.float32 and marginals.shape == probs.shape
        assert torch.equal(marginals, DenseCRF()(image, probs))
    np.testing.assert_allclose(parallel[0].numpy(), golden_case('rgb')[2], rtol=0, atol=1e-6)
    assert DenseCRF(workers=3).map([]) == []


def test_excel_batch_with_workers_equals_the_serial_batch(monkeypatch) -> None:
    """A batch of three images of different sizes through the real tiny segmenter: labels and
    marginals of crf.workers=2 equal crf.workers=1 exactly."""
    calls = []
    parallel_map = dense_crf_module.ordered_map
    monkeypatch.setattr(dense_crf_module, 'ordered_map',
                        lambda *args: calls.append(args[-1]) or parallel_map(*args))
    torch.manual_seed(0)
    serial_model = tiny21(crf=dict(workers=1))
    parallel_model = tiny21(crf=dict(type='DenseCRF', workers=2))
    parallel_model.load_state_dict(serial_model.state_dict())
    assert (serial_model.crf.workers, parallel_model.crf.workers) == (1, 2)
    generator = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=generator)
              for h, w in ((40, 56), (64, 48), (33, 70))]
    vocabulary = ['class 3', 'background', 'class 7', 'class 12']
    outputs = []
    for model in (serial_model, parallel_model):
        samples = [OVDataSample(metainfo=dict(classnames=vocabulary, ori_shape=tuple(
            i.shape[-2:]), img_shape=tuple(i.shape[-2:]))) for i in images]
        outputs.append(model.test_step(dict(inputs=images, data_samples=samples)))
    assert calls == [2]
    for serial, parallel, image in zip(*outputs, images):
        assert serial.pred_sem_seg.data.shape[-2:] == image.shape[-2:]
        assert torch.equal(serial.pred_sem_seg.data, parallel.pred_sem_seg.data)
        assert torch.equal(serial.seg_logits.data, parallel.seg_logits.data)
    assert len({tuple(torch.unique(o.pred_sem_seg.data).tolist()) for o in outputs[0]}) >= 1


def test_workers_option_is_checked_in_one_line(monkeypatch) -> None:
    for bad in (0, -2, 2.5, True, 'all', None):
        with pytest.raises(ValueError, match="DenseCRF workers must be 'auto' or an int") as error:
            DenseCRF(workers=bad)
        assert '\n' not in str(error.value)
    with pytest.raises(ValueError, match="DenseCRF workers must be") as error:
        tiny21(crf=dict(workers=0))
    assert '\n' not in str(error.value)
    assert check_dense_crf_cfg(dict(workers=4))['workers'] == 4
    with pytest.raises(ValueError, match=r"unknown crf keys \['jobs'\].*'workers'"):
        check_dense_crf_cfg(dict(jobs=4))
    # 'auto': 60 % of the usable cores (the official joblib setting), shared by the ranks
    monkeypatch.delenv('LOCAL_WORLD_SIZE', raising=False)
    for cores, expected in ((1, 1), (2, 1), (4, 2), (16, 9), (64, 38)):
        monkeypatch.setattr(process_pool, 'usable_cpus', lambda cores=cores: cores)
        assert DenseCRF().workers == expected
    monkeypatch.setenv('LOCAL_WORLD_SIZE', '4')
    assert DenseCRF(workers='auto').workers == 9   # 38 // 4 on 64 cores
    assert DenseCRF(workers=3).workers == 3


INTERRUPTED_RUN = '''
import torch
from ovperception.utils.cli import run_cli

def main():
    from ovperception.models.refiners.dense_crf import DenseCRF
    generator = torch.Generator().manual_seed(0)
    probs = torch.rand(21, 200, 300, generator=generator).softmax(0)
    image = torch.randint(0, 256, (3, 200, 300), dtype=torch.uint8, generator=generator)

    def pairs():
        for index in range(6):
            print('submitted', index, flush=True)
            yield image, probs

    DenseCRF(workers=2, iter_max=1000).map(pairs())

run_cli(main)
'''


def running_members(group: int) -> list[str]:
    """Processes of a process group that are not zombies (ps lines)."""
    listing = subprocess.run(['ps', '-ww', '-o', 'pid=,stat=,args=', '-g', str(group)],
                             capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if line.split()[1][0] != 'Z']


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='process groups, ps: Linux')
def test_ctrl_c_with_busy_workers_exits_130_and_leaves_no_process(tmp_path) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while two workers run
    long CRFs and one is queued: exit 130 with the one-line message, within seconds, and no
    process of the group still alive."""
    script = tmp_path / 'interrupted.py'
    script.write_text(INTERRUPTED_RUN)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    with open(tmp_path / 'stderr.txt', 'w') as stderr:
        run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               stderr=stderr, text=True, env=env, start_new_session=True)
        try:
            for line in run.stdout:
                if line.startswith('submitted 2'):   # two running, one queued
                    break
            deadline = time.time() + 60   # both workers started and computing
            while len(running_members(run.pid)) < 3 and time.time() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)
            assert any('LokyProcess' in line for line in running_members(run.pid))
            interrupted = time.time()
            os.killpg(run.pid, signal.SIGINT)
            assert run.wait(timeout=60) == 130
            assert time.time() - interrupted < 30   # a CRF takes minutes: workers were killed
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    deadline = time.time() + 10
    while running_members(run.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert running_members(run.pid) == []
    message = (tmp_path / 'stderr.txt').read_text().strip()
    assert message.startswith('interrupted (Ctrl-C)') and '\n' not in message


@pytest.mark.slow
def test_tools_test_gives_the_same_metrics_with_workers(tmp_path) -> None:
    """tools/test.py on the tiny trained-segmenter config with the CRF: every metric of
    batches of 3 images with crf.workers=2 equals one image at a time in this process."""
    from tests.scripts import test_tool
    config = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel_train.py')

    def metrics(batch_size: int, workers: int) -> dict:
        return test_tool.main([config, '--work-dir', str(tmp_path / f'workers{workers}'),
                               '--max-images', '3', '--cfg-options', 'randomness.seed=0',
                               f'test_dataloader.batch_size={batch_size}',
                               'test_dataloader.num_workers=0',
                               'model.segmenter_cfg.crf.pos_w=50',
                               f'model.segmenter_cfg.crf.workers={workers}'])

    serial, parallel = metrics(1, 1), metrics(3, 2)
    assert serial == parallel and 'mIoU' in serial


@pytest.mark.parametrize('crf_options', [[], ['model.segmenter_cfg.crf.workers=1'],
                                         ['model.segmenter_cfg.crf.workers=2']])
def test_benchmark_reports_the_crf_as_refiner_time(crf_options, tmp_path) -> None:
    """tools/benchmark.py on the tiny trained ExCEL: its CRF (segmenter_cfg.crf), in this
    process or on workers, is the refiners stage; without it the stage is empty. Its
    CLIP-surgery forwards are backbone time and its floor encodes each image whole."""
    import importlib.util
    import json
    spec = importlib.util.spec_from_file_location('benchmark_tool',
                                                  os.path.join(ROOT, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    config = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel_train.py')
    options = ['--cfg-options', *crf_options] if crf_options else []
    tool.main([config, '--images', '2', '--batch-size', '2', '--size', '48x64',
               '--vocab-size', '3', '--warmup', '0', '--out', str(tmp_path), *options])
    (result,) = json.loads((tmp_path / 'benchmark.json').read_text())['results']
    stages = result['stages_ms']
    assert (stages['refiners'] > 0) == bool(crf_options)
    assert result['crops_per_image'] == 1 and result['floor_ms'] > 0 and stages['backbone'] > 0
    assert stages['head'] > 0 and sum(stages.values()) == pytest.approx(
        result['latency_ms']['mean'], rel=1e-6)
