"""WinCLIP+ k-shot through tools/test.py (FewShotMemoryHook) and demo map smoothing."""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ovperception.datasets import write_mvtec_tree
from ovperception.engine.few_shot import FewShotMemoryHook
from ovperception.models.anomaly.few_shot import draw_normal_references
from tests.scripts import ROOT, demo, test_tool

FEW_SHOT = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_winclip_fewshot.py')
WINCLIP = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_winclip.py')


def _tree_whose_normal_test_images_are_the_references(root) -> str:
    """Synthetic MVTec tree (2 train/good images) whose test/good images are copies of them."""
    tree = write_mvtec_tree(root, num_test=6, num_train=2)
    good = os.path.join(tree['root'], 'fabric', 'test', 'good')
    shutil.rmtree(good)
    os.makedirs(good)
    for i, path in enumerate(tree['train']):
        shutil.copy(path, os.path.join(good, f'copy_{i}.png'))
    return tree['root']


def test_few_shot_test_tool_builds_the_memory_and_never_ranks_worse(tmp_path):
    data_root = _tree_whose_normal_test_images_are_the_references(tmp_path / 'data')
    runs = {}
    for k in (0, 2):
        runs[k] = test_tool.main([FEW_SHOT, '--work-dir', str(tmp_path / f'k{k}'), '--cfg-options',
                                  f'test_dataloader.dataset.data_root={data_root}',
                                  f'custom_hooks.2.k={k}'])
    log = ''.join(p.read_text() for p in (tmp_path / 'k2').rglob('*.log'))
    assert '2-shot memory of fabric (seed 0)' in log
    # Both references memorised: a normal test image scores (z_n + 0) / 2, an anomalous one
    # (z_a + d_a) / 2 with d_a > 0, so every pair zero-shot ranks right stays right.
    assert runs[2]['image_AUROC'] >= runs[0]['image_AUROC'], runs
    assert runs[2]['image_AUROC'] == 100.0 and runs[2]['pixel_AUROC'] > runs[0]['pixel_AUROC']


def test_reference_draw_is_repeatable_and_checked():
    records = [dict(img_path=f'{i}.png') for i in range(10)]
    first = draw_normal_references(records, 4, seed=0, category='screw')
    assert first == draw_normal_references(records[::-1], 4, seed=0, category='screw')
    assert first != draw_normal_references(records, 4, seed=1, category='screw')
    assert len({r['img_path'] for r in first}) == 4
    with pytest.raises(ValueError, match="only 10 normal"):
        draw_normal_references(records, 11, seed=0, category='screw')
    with pytest.raises(ValueError, match='>= 0'):
        FewShotMemoryHook(k=-1)


def _demo_record(tmp_path, name, *extra):
    tree_image = str(tmp_path / 'data' / 'fabric' / 'test')
    out = tmp_path / name
    torch.manual_seed(0)  # the tiny CLIP is random-initialised: same weights in every run
    assert demo.main([tree_image, '--vocab', 'fabric', '--config', WINCLIP, '--out', str(out),
                      *extra]) == 0
    # outputs mirror the input tree: test/good/000.png -> out/good/000_anomaly.*
    return (json.loads((out / 'good' / '000_anomaly.json').read_text()),
            np.asarray(Image.open(out / 'good' / '000_anomaly.png')))


def test_demo_smooths_like_the_configs_metric(tmp_path):
    write_mvtec_tree(tmp_path / 'data', num_test=1, num_train=0)
    raw, raw_png = _demo_record(tmp_path, 'raw')  # tiny config: metric sigma 0
    explicit, explicit_png = _demo_record(tmp_path, 'explicit', '--anomaly-sigma', '4')
    from_metric, metric_png = _demo_record(tmp_path, 'metric', '--cfg-options',
                                           'test_evaluator.gaussian_sigma=4.0')
    assert explicit == from_metric and np.array_equal(explicit_png, metric_png)
    assert explicit['map_max'] < raw['map_max'] and explicit['score'] == raw['score']
    assert not np.array_equal(raw_png, explicit_png)
