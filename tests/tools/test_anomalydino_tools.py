"""AnomalyDINO through tools/test.py (few-shot hook, slice draw), the demo (references from
--few-shot-normal or the config) and annotate (--cfg-options few_shot_references=DIR)."""
from __future__ import annotations

import json
import os

import pytest

from ovperception.datasets import write_mvtec_tree
from tests.annotation.inputs import stored_results
from tests.scripts import ROOT, demo, load_script, test_tool

CONFIG = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_anomalydino.py')
annotate = load_script('tools/annotate.py')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return write_mvtec_tree(tmp_path_factory.mktemp('anomalydino') / 'data', num_test=4,
                            num_train=2)


def test_test_tool_draws_the_sorted_slice_and_evaluates(tree, tmp_path):
    metrics = test_tool.main([CONFIG, '--work-dir', str(tmp_path), '--cfg-options',
                              f'test_dataloader.dataset.data_root={tree["root"]}',
                              'custom_hooks.2.seed=1'])
    assert all(0 <= v <= 100 for v in metrics.values()) and 'AUPRO' in metrics
    log = ''.join(p.read_text() for p in tmp_path.rglob('*.log'))
    second = sorted(tree['train'])[1]  # seed 1, k 1: the second sorted train/good image
    assert f'1-shot memory of fabric (seed 1): {second}' in log


def test_demo_scores_a_reference_lower_and_refuses_without_references(tree, tmp_path):
    reference = os.path.join(tree['root'], 'fabric', 'train', 'good')
    assert demo.main([tree['train'][0], '--vocab', 'fabric', '--config', CONFIG,
                      '--out', str(tmp_path / 'ref'), '--few-shot-normal', reference]) == 0
    assert demo.main([tree['test'][-1], '--vocab', 'fabric', '--config', CONFIG,
                      '--out', str(tmp_path / 'test'), '--cfg-options',
                      f'few_shot_references={reference}']) == 0
    memorised = json.loads((tmp_path / 'ref' / '000_anomaly.json').read_text())
    assert memorised['score'] == pytest.approx(0.0, abs=1e-5)  # its own patches are in memory
    assert list((tmp_path / 'test').glob('*_anomaly.png'))
    with pytest.raises(ValueError, match='AnomalyDINOHead is few-shot: give normal reference'):
        demo.main([tree['test'][0], '--vocab', 'fabric', '--config', CONFIG,
                   '--out', str(tmp_path / 'none')])
    assert not (tmp_path / 'none').exists() or not list((tmp_path / 'none').iterdir())


def test_annotate_with_config_references(tree, tmp_path):
    reference = os.path.join(tree['root'], 'fabric', 'train', 'good')
    source = os.path.join(tree['root'], 'fabric', 'test')
    out = str(tmp_path / 'out')
    assert annotate.main([source, '--vocab', 'fabric', '--out', out, '--config', CONFIG,
                          '--task', 'anomaly', '--device', 'cpu', '--no-progress',
                          '--anomaly-threshold', '0.0', '--cfg-options',
                          f'few_shot_references={reference}']) == 0
    results = stored_results(out)
    assert len(results) == 4
    assert all(record.extra['verdict'] == 'anomalous' for record, _ in results.values())
