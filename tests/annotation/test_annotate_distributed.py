"""``torchrun --nproc_per_node 2 tools/annotate.py ... --launcher pytorch`` (gloo on CPU)
shards the inputs over two processes and merges datasets equal to a 1-process run; rank 0's
progress counts the inputs of both."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.annotation.inputs import ANNOTATE, ROOT, annotate_args, make_inputs, summary
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')


def dataset_files(out: str) -> dict[str, bytes]:
    """Every dataset file (not the manifest, frames or summary), with the output folder's
    path replaced so that two runs into different folders compare."""
    files = {}
    for fmt in ('coco', 'yolo', 'voc', 'labelstudio', 'cvat'):
        for root, _, names in os.walk(os.path.join(out, fmt)):
            for name in names:
                path = os.path.join(root, name)
                relative = os.path.relpath(path, out)
                if os.path.islink(path):
                    files[relative] = os.readlink(path).encode()
                else:
                    with open(path, 'rb') as handle:
                        files[relative] = handle.read().replace(out.encode(), b'OUT')
    return files


@pytest.mark.slow
def test_torchrun_two_processes_equal_one(tmp_path, capsys):
    images = tuple(f'{d}/im{i}.png' for d in ('a', 'b') for i in range(3)) + ('a/x.jpg',)
    source = make_inputs(str(tmp_path / 'in'), images=images, broken=True, video=True)
    single, double = str(tmp_path / 'one'), str(tmp_path / 'two')
    assert annotate.main(annotate_args(source, single)) == 3  # partial: broken.jpg
    progress_lines = [line for line in capsys.readouterr().out.splitlines()
                      if line.startswith('annotate:')]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node',
         '2', ANNOTATE, *annotate_args(source, double), '--launcher', 'pytorch'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    # partial success exits 0 under torchrun (any other status is a ChildFailedError
    # traceback there); the summary line and summary.json say it is partial
    assert result.returncode == 0 and 'broken.jpg' in result.stderr, result.stderr[-2000:]
    assert 'ChildFailedError' not in result.stderr and 'Traceback' not in result.stderr
    assert 'partial: 1 of' in result.stderr and summary(double)['status'] == 'partial'
    # rank 0's progress counts the inputs of both ranks: it ends where one process does
    # (``annotate: 9/9 inputs``), with no "this process: 5 of 9" share
    shown = [line for line in result.stdout.splitlines() if line.startswith('annotate:')]
    assert shown and shown[-1] == progress_lines[-1], (shown, progress_lines)
    assert 'this process' not in result.stdout
    one, two = summary(single), summary(double)
    assert two['world_size'] == 2 and one['world_size'] == 1
    assert (two['images'], two['objects'], two['failed'][0]['name']) == \
        (one['images'], one['objects'], one['failed'][0]['name'])
    first, second = dataset_files(single), dataset_files(double)
    assert sorted(first) == sorted(second)
    differing = [name for name in first if first[name] != second[name]]
    assert not differing, differing
