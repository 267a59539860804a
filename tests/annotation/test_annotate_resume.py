"""A run killed with SIGKILL mid-way leaves only whole files; rerunning completes the job
without duplicates. A real subprocess is killed."""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from tests.annotation.inputs import ANNOTATE, ROOT, annotate_args, make_inputs, summary
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')
IMAGES = tuple(f'{folder}/img{i}.{ext}' for folder in ('p', 'q') for i in range(6)
               for ext in ('png',))


def finished_items(out: str) -> int:
    return len(glob.glob(os.path.join(out, '.annotate', 'items', '*.json')))


def assert_whole_files(out: str) -> None:
    """Every file that is not a temporary of an atomic write parses completely."""
    for root, _, files in os.walk(out):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith('.tmp') or root.endswith(os.path.join('.annotate', 'tmp')):
                continue
            if name.endswith('.json'):
                with open(path, encoding='utf-8') as handle:
                    json.load(handle)
            elif name.endswith('.png') and not os.path.islink(path):
                Image.open(path).load()


@pytest.mark.slow
def test_sigkill_then_rerun_completes_without_duplicates(tmp_path):
    source = make_inputs(str(tmp_path / 'in'), images=IMAGES, broken=False, video=False,
                         size=(96, 128))
    out = str(tmp_path / 'out')
    env = dict(os.environ, PYTHONPATH=ROOT)
    process = subprocess.Popen([sys.executable, ANNOTATE, *annotate_args(source, out)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while finished_items(out) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, 'the run ended before it could be killed: ' + \
        process.stderr.read().decode()[-500:]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    process.stderr.close()
    done_at_kill = finished_items(out)
    assert 2 <= done_at_kill < len(IMAGES)
    assert not os.path.exists(os.path.join(out, 'summary.json'))
    assert_whole_files(out)

    assert annotate.main(annotate_args(source, out)) == 0
    info = summary(out)
    assert info['reused'] >= done_at_kill - 1 and \
        info['reused'] + info['annotated_now'] == len(IMAGES)
    with open(os.path.join(out, 'coco', 'annotations.json'), encoding='utf-8') as handle:
        coco = json.load(handle)
    names = [image['file_name'] for image in coco['images']]
    assert sorted(names) == sorted(IMAGES)  # every input once, no duplicates
    assert len({a['id'] for a in coco['annotations']}) == len(coco['annotations'])
    leftovers = [os.path.join(root, name) for root, _, files in os.walk(out) for name in files
                 if name.endswith('.tmp') or root.endswith(os.path.join('.annotate', 'tmp'))]
    assert not leftovers, leftovers
    assert_whole_files(out)
