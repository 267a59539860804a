"""MuSc in batch mode: tools/test.py (SetTestLoop, memory or disk features), the demo on a
folder (the folder is the set; equal to scoring the set at once), annotate with
unlabeled_set, and the one-line error for a single image."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from ovperception.apis import init_model
from ovperception.datasets import write_mvtec_tree
from tests.annotation.inputs import stored_results
from tests.scripts import ROOT, demo, load_script, test_tool

CONFIG = os.path.join(ROOT, 'configs', 'tiny', 'anomaly_tiny_musc.py')
annotate = load_script('tools/annotate.py')


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    return write_mvtec_tree(tmp_path_factory.mktemp('musc') / 'data', num_test=6, num_train=2)


def test_test_tool_scores_the_set_in_memory_and_on_disk_alike(tmp_path):
    runs = [test_tool.main([CONFIG, '--work-dir', str(tmp_path / store), '--cfg-options',
                            f'model.feature_store={store}', 'model.chunk=3'])
            for store in ('None', 'disk')]
    assert runs[0] == runs[1]
    assert set(runs[0]) >= {'image_AUROC', 'pixel_AUROC', 'AUPRO'}
    assert runs[0]['image_AUROC'] > 80  # mutual scoring separates the synthetic defects


def test_demo_on_a_folder_equals_scoring_the_folder_at_once(tree, tmp_path):
    folder = os.path.join(tree['root'], 'fabric', 'test')
    torch.manual_seed(0)
    assert demo.main([folder, '--vocab', 'fabric', '--config', CONFIG,
                      '--out', str(tmp_path / 'out')]) == 0
    records = {p.name: json.loads(p.read_text())
               for p in sorted((tmp_path / 'out').rglob('*_anomaly.json'))}
    assert len(records) == 6
    torch.manual_seed(0)  # the same random tiny model
    model = init_model(CONFIG, None, 'cpu')
    from ovperception.apis import OVPredictor
    from ovperception.apis.anomaly import pack_images
    predictor = OVPredictor(model)
    paths = sorted(tree['test'])
    packed = pack_images(predictor, paths)
    for item in packed:
        item['data_samples'].set_metainfo(dict(classnames=['fabric']))
    data = model.data_preprocessor(dict(inputs=[p['inputs'] for p in packed],
                                        data_samples=[p['data_samples'] for p in packed]), False)
    with torch.no_grad():
        batch = model.predict(data['inputs'], data['data_samples'])
    for path, sample in zip(paths, batch):
        record = records[os.path.splitext(os.path.basename(path))[0] + '_anomaly.json']
        assert record['score'] == pytest.approx(float(sample.pred_score), abs=1e-5)


def test_a_single_image_gets_a_one_line_error(tree, tmp_path):
    with pytest.raises(ValueError, match='MuSc scores each image against other unlabeled'):
        demo.main([tree['test'][0], '--vocab', 'fabric', '--config', CONFIG,
                   '--out', str(tmp_path / 'one')])


def test_annotate_a_folder_against_an_unlabeled_set(tree, tmp_path):
    folder = os.path.join(tree['root'], 'fabric', 'test')
    out = str(tmp_path / 'ann')
    assert annotate.main([folder, '--vocab', 'fabric', '--out', out, '--config', CONFIG,
                          '--task', 'anomaly', '--device', 'cpu', '--no-progress',
                          '--anomaly-threshold', '0.0', '--cfg-options',
                          f'unlabeled_set={folder}']) == 0
    results = stored_results(out)
    assert len(results) == 6
    scores = [record.extra['score'] for record, _ in results.values()]
    assert np.isfinite(scores).all()
