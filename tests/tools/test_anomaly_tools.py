"""tools/test.py, tools/train.py and the demo on the tiny anomaly configs."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ovperception.datasets import write_mvtec_tree
from tests.scripts import ROOT, demo, test_tool, train_tool

WINCLIP = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_winclip.py')
ANOMALYCLIP = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_anomalyclip_train.py')
ADACLIP = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_adaclip.py')
KEYS = {'image_AUROC', 'image_AP', 'image_F1max', 'pixel_AUROC', 'pixel_F1max', 'AUPRO'}


def test_winclip_test_tool_prints_metrics(tmp_path, capsys):
    metrics = test_tool.main([WINCLIP, '--work-dir', str(tmp_path)])
    assert set(metrics) == KEYS and all(0 <= v <= 100 for v in metrics.values())
    assert json.loads((tmp_path / 'metrics.json').read_text())['metrics'] == metrics
    assert 'AUPRO' in capsys.readouterr().out


def test_category_without_anomalies_gives_nan_and_a_message_not_a_crash(tmp_path):
    metrics = test_tool.main([WINCLIP, '--work-dir', str(tmp_path), '--cfg-options',
                              'test_dataloader.dataset.anomaly_ratio=0.0'])
    assert math.isnan(metrics['image_AUROC']) and math.isnan(metrics['AUPRO'])
    log = ''.join(p.read_text() for p in tmp_path.rglob('*.log'))
    assert 'AUROC is undefined for category fabric: it has no anomalous images' in log


@pytest.mark.slow
def test_anomalyclip_trains_and_the_checkpoint_evaluates_better(tmp_path):
    runner = train_tool.main([ANOMALYCLIP, '--work-dir', str(tmp_path / 'work'),
                              '--cfg-options', 'train_cfg.max_iters=20',
                              'train_cfg.val_interval=20', 'default_hooks.checkpoint.interval=20'])
    assert runner.iter == 20
    after = test_tool.main([ANOMALYCLIP, '--work-dir', str(tmp_path / 'after'), '--weights',
                            str(tmp_path / 'work' / 'iter_20.pth')])
    # untrained prompts score about 50 (chance; see tests/models/test_anomaly_model.py)
    assert after['pixel_AUROC'] > 75 and after['image_AUROC'] > 60, after


@pytest.mark.slow
def test_adaclip_trains_and_the_checkpoint_evaluates_better(tmp_path):
    runner = train_tool.main([ADACLIP, '--work-dir', str(tmp_path / 'work'),
                              '--cfg-options', 'train_cfg.max_iters=20',
                              'train_cfg.val_interval=20', 'default_hooks.checkpoint.interval=20',
                              'default_hooks.logger.interval=5'])
    assert runner.iter == 20
    log = ''.join(p.read_text() for p in (tmp_path / 'work').rglob('*.log'))
    losses = [float(line.split(' loss: ')[1].split()[0]) for line in log.splitlines()
              if 'Iter(train)' in line]
    assert len(losses) == 4 and losses[-1] < 0.6 * losses[0], losses  # measured 3.16 -> 0.97
    after = test_tool.main([ADACLIP, '--work-dir', str(tmp_path / 'after'), '--weights',
                            str(tmp_path / 'work' / 'iter_20.pth')])
    assert after['pixel_AUROC'] > 75 and after['image_AUROC'] > 70, after  # measured 84.9, 90.6


def test_demo_writes_adaclip_anomaly_outputs(tmp_path):
    """AdaCLIP's image-conditioned text runs through the demo's anomaly outputs."""
    tree = write_mvtec_tree(tmp_path / 'data', num_test=2, num_train=1)
    test_dir = os.path.join(tree['root'], 'fabric', 'test')
    assert demo.main([test_dir, '--vocab', 'fabric', '--config', ADACLIP, '--out',
                      str(tmp_path / 'out'), '--anomaly-threshold', '0.5']) == 0
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / 'out').rglob('*.json'))]
    assert len(records) == 2
    for record in records:
        assert record['object'] == 'fabric' and 0 <= record['score'] <= 1
        assert record['verdict'] == ('anomalous' if record['score'] >= 0.5 else 'normal')
    assert len(list((tmp_path / 'out').rglob('*_anomaly.png'))) == 2


def test_demo_calibrates_threshold_and_writes_heatmap_and_verdicts(tmp_path):
    tree = write_mvtec_tree(tmp_path / 'data', num_test=4, num_train=3)
    test_dir = os.path.join(tree['root'], 'fabric', 'test')
    code = demo.main([test_dir, '--vocab', 'fabric', '--config', WINCLIP, '--out',
                      str(tmp_path / 'out'), '--calibrate-normal',
                      os.path.join(tree['root'], 'fabric', 'train', 'good')])
    assert code == 0
    # outputs mirror the input tree (test/good/000.png -> out/good/000_anomaly.json)
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / 'out').rglob('*.json'))]
    assert len(records) == 4
    threshold = records[0]['threshold']
    assert threshold is not None and all(r['threshold'] == threshold for r in records)
    for record in records:
        assert record['object'] == 'fabric'
        assert record['verdict'] == ('anomalous' if record['score'] >= threshold else 'normal')
    overlay = np.asarray(Image.open(sorted((tmp_path / 'out').rglob('*_anomaly.png'))[0]))
    assert overlay.ndim == 3 and overlay.shape[0] >= 64

    code = demo.main([tree['test'][0], '--vocab', 'fabric', '--config', WINCLIP, '--out',
                      str(tmp_path / 'fixed'), '--anomaly-threshold', '0.0'])
    record = json.loads((tmp_path / 'fixed' / '000_anomaly.json').read_text())
    assert code == 0 and record['threshold'] == 0.0 and record['verdict'] == 'anomalous'


def test_demo_few_shot_memory_lowers_the_score_of_a_reference_image(tmp_path):
    tree = write_mvtec_tree(tmp_path / 'data', num_test=2, num_train=2)
    reference = os.path.join(tree['root'], 'fabric', 'train', 'good')
    for out, extra in (('zero', []), ('few', ['--few-shot-normal', reference])):
        torch.manual_seed(0)  # the same random tiny model in both runs
        assert demo.main([tree['train'][0], '--vocab', 'fabric', '--config', WINCLIP,
                          '--out', str(tmp_path / out), *extra]) == 0
    zero = json.loads((tmp_path / 'zero' / '000_anomaly.json').read_text())
    few = json.loads((tmp_path / 'few' / '000_anomaly.json').read_text())
    assert few['map_max'] < zero['map_max']  # a memorised image: few-shot distance 0


def test_readme_anomaly_example_points_at_real_folders():
    import re
    readme = open(os.path.join(ROOT, 'README.md'), encoding='utf-8').read()
    folders = re.findall(r'--calibrate-normal (\S+?)/?`', readme)
    assert folders
    for folder in folders:
        path = os.path.join(ROOT, folder)
        assert os.path.isdir(path) and any(f.endswith(('.jpg', '.png')) for f in os.listdir(path))
    assert os.path.isfile(os.path.join(ROOT, 'demo', 'examples', 'anomaly', 'scratched.jpg'))
