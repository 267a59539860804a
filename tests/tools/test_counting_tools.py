"""tools/train.py, tools/test.py and the demo on the tiny counting configs."""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from ovperception.datasets.synthetic_counting import make_dot_image
from ovperception.utils.atomic import atomic_save_image
from tests.scripts import ROOT, demo, test_tool, train_tool

TINY_EBC = os.path.join(ROOT, 'configs', 'tiny', 'count_tiny_ebc.py')


def test_tiny_ebc_trains_and_tests_with_mae_and_rmse(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        untrained = test_tool.main([TINY_EBC, '--work-dir', str(tmp_path / 'before')])
        work = str(tmp_path / 'work')
        runner = train_tool.main([TINY_EBC, '--work-dir', work])
        history = runner.message_hub.get_scalar('train/loss').data[0]
        assert history[-5:].mean() < 0.5 * history[:5].mean(), 'the loss must fall'
        trained = test_tool.main([TINY_EBC, '--work-dir', str(tmp_path / 'after'),
                                  '--weights', os.path.join(work, 'iter_60.pth')])
    finally:
        torch.set_num_threads(threads)
    assert set(trained) >= {'test/MAE', 'test/RMSE'}
    assert trained['test/RMSE'] >= trained['test/MAE']
    assert trained['test/MAE'] < untrained['test/MAE']


def test_demo_writes_count_overlay_and_json(tmp_path):
    image, points, _ = make_dot_image(3, 0, (64, 64), max_count=10)
    path = tmp_path / 'dots.png'
    atomic_save_image(str(path), image)
    before = path.read_bytes()
    code = demo.main([str(path), '--vocab', 'red dot, blue dot', '--config', TINY_EBC,
                      '--out', str(tmp_path / 'out')])
    assert code == 0 and path.read_bytes() == before
    record = json.loads((tmp_path / 'out' / 'dots_count.json').read_text())
    assert [c['label'] for c in record['counts']] == ['red dot', 'blue dot']
    density = np.array(record['density']['values'])
    assert density.shape == (2, 8, 8) and record['density']['stride'] == 8
    assert abs(density[0].sum() - record['counts'][0]['count']) < 0.05
    assert (tmp_path / 'out' / 'dots_count.png').stat().st_size > 0


TINY_ZEROSHOT = os.path.join(ROOT, 'configs', 'tiny', 'count_tiny_zeroshot.py')


def test_tiny_zero_shot_config_runs_through_the_test_tool(tmp_path):
    metrics = test_tool.main([TINY_ZEROSHOT, '--work-dir', str(tmp_path / 'test')])
    assert metrics['test/RMSE'] >= metrics['test/MAE'] >= 0


def test_demo_zero_shot_writes_detections_with_masks(tmp_path):
    from ovperception.models.refiners import SAMWrapper
    checkpoint = tmp_path / 'sam_tiny.pth'
    torch.save(SAMWrapper(model_type='tiny').state_dict(), checkpoint)
    image, _, _ = make_dot_image(2, 0, (48, 64), max_count=6)
    path = tmp_path / 'dots.png'
    atomic_save_image(str(path), image)
    code = demo.main([str(path), '--vocab', 'red dot', '--config', TINY_ZEROSHOT,
                      '--sam-checkpoint', str(checkpoint), '--sam-model', 'tiny',
                      '--out', str(tmp_path / 'out')])
    assert code == 0
    record = json.loads((tmp_path / 'out' / 'dots_count.json').read_text())
    assert record['total'] == len(record['detections']) == record['counts'][0]['count']
    for detection in record['detections']:
        assert len(detection['bbox']) == 4 and detection['segmentation']['size'] == [48, 64]
