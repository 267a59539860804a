"""The 2025 training-free segmentation methods everywhere a segmentation method works:
tools/test.py, the demo and tools/annotate.py on each method's tiny config (random weights)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.scripts import ROOT, demo, load_script, test_tool

annotate = load_script('tools/annotate.py')
TINY_CONFIGS = ['seg_tiny_scclip.py', 'seg_tiny_resclip.py', 'seg_tiny_lposs.py',
                'seg_tiny_talk2dino.py', 'seg_tiny_cass.py', 'seg_tiny_corrclip.py']


def tiny(name: str) -> str:
    return os.path.join(ROOT, 'configs', 'tiny', name)


@pytest.fixture
def image(tmp_path) -> str:
    """A 70 x 93 RGB image (sides not multiples of 16)."""
    path = tmp_path / 'in' / 'img.png'
    path.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (70, 93, 3), dtype=np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize('config', TINY_CONFIGS)
def test_test_tool_evaluates_the_tiny_config(tmp_path, config):
    metrics = test_tool.main([tiny(config), '--work-dir', str(tmp_path)])
    assert 0.0 <= metrics['mIoU'] <= 100.0
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['metrics']['mIoU'] == metrics['mIoU']


@pytest.mark.parametrize('config', TINY_CONFIGS)
def test_demo_and_annotate_run_the_tiny_config(tmp_path, image, config):
    assert demo.main([image, '--vocab', 'cat, dog; puppy, background', '--config',
                      tiny(config), '--out', str(tmp_path / 'demo')]) == 0
    labels = np.asarray(Image.open(tmp_path / 'demo' / 'img_labels.png'))
    assert labels.shape == (70, 93) and labels.max() <= 3
    out = tmp_path / 'annotated'
    assert annotate.main([os.path.dirname(image), '--vocab', 'cat, dog; puppy', '--out',
                          str(out), '--config', tiny(config), '--device', 'cpu',
                          '--format', 'coco', '--min-area', '1', '--no-progress']) == 0
    coco = json.loads((out / 'coco' / 'annotations.json').read_text())
    assert [c['name'] for c in coco['categories']] == ['cat', 'dog']
    assert len(coco['images']) == 1
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['images'] == 1 and not summary['failed']
