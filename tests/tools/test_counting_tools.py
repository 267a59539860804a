"""tools/train.py, tools/test.py and the demo on the tiny counting configs."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
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


def _tiny_sam_checkpoint(tmp_path) -> str:
    from ovperception.models.refiners import SAMWrapper
    checkpoint = tmp_path / 'sam_tiny.pth'
    torch.save(SAMWrapper(model_type='tiny').state_dict(), checkpoint)
    return str(checkpoint)


def test_demo_exemplars_reach_the_head_in_input_pixels(tmp_path, monkeypatch):
    from ovperception.models.counting import ZeroShotCountingHead
    seen = []
    original = ZeroShotCountingHead.exemplar_similarity

    def spy(self, state, exemplars, size):
        seen.append((exemplars.clone(), tuple(state.original_size)))
        return original(self, state, exemplars, size)

    monkeypatch.setattr(ZeroShotCountingHead, 'exemplar_similarity', spy)
    image, _, _ = make_dot_image(2, 0, (48, 64), max_count=6)
    path = tmp_path / 'dots.png'
    atomic_save_image(str(path), image)
    code = demo.main([str(path), '--vocab', 'red dot', '--config', TINY_ZEROSHOT,
                      '--sam-checkpoint', _tiny_sam_checkpoint(tmp_path), '--sam-model', 'tiny',
                      '--exemplars', '2,3,12,15; 30.5,20,40,33', '--out', str(tmp_path / 'out')])
    assert code == 0 and (tmp_path / 'out' / 'dots_count.json').is_file()
    assert (tmp_path / 'out' / 'dots_count.png').is_file()
    assert len(seen) == 1 and seen[0][1] == (48, 64)
    torch.testing.assert_close(seen[0][0], torch.tensor([[2.0, 3, 12, 15], [30.5, 20, 40, 33]]),
                               atol=1e-3, rtol=0)


def test_exemplar_metainfo_scales_to_the_working_image():
    boxes = demo.parse_exemplars('10,20,30,40')
    meta = demo.exemplar_metainfo(boxes, dict(ori_shape=(100, 200), img_shape=(50, 100)))
    np.testing.assert_allclose(meta['exemplar_bboxes'], [[5, 10, 15, 20]])


@pytest.mark.parametrize('text, message', [
    ('1,2,3', 'four numbers'), ('a,2,3,4', 'four numbers'), ('1,2,3,nan', 'four numbers'),
    ('5,2,5,9', 'x2 > x1'), ('1,9,5,2', 'y2 > y1'), (' ; ', 'no box')])
def test_malformed_exemplars_are_rejected(text, message):
    with pytest.raises(SystemExit, match=message):
        demo.parse_exemplars(text)


def test_exemplars_outside_the_image_are_rejected():
    boxes = demo.parse_exemplars('1,1,10,10; 50,5,70,20')
    with pytest.raises(SystemExit, match='outside the 64x48 image'):
        demo.exemplar_metainfo(boxes, dict(ori_shape=(48, 64), img_shape=(48, 64)))


def test_exemplars_need_a_counting_config_that_takes_them(tmp_path):
    image, _, _ = make_dot_image(2, 0, (48, 64), max_count=6)
    path = tmp_path / 'dots.png'
    atomic_save_image(str(path), image)
    with pytest.raises(SystemExit, match='only to counting configs'):
        demo.main([str(path), '--vocab', 'red dot', '--config', TINY_EBC,
                   '--exemplars', '1,1,10,10', '--out', str(tmp_path / 'out')])
    assert not (tmp_path / 'out').exists()


TINY_CLIP_EBC = os.path.join(ROOT, 'configs', 'tiny', 'count_tiny_clip_ebc.py')


def test_an_official_clip_ebc_state_dict_evaluates_through_the_test_tool(tmp_path):
    """A state dict in the released CLIP-EBC layout (names, shapes from the official
    constructor) is detected, converted, loaded strictly and evaluated."""
    import json
    from pathlib import Path

    from tests.models.test_clip_ebc_parity import GOLDEN, official_weights
    layout = json.loads((Path(GOLDEN) / 'layout_tiny.json').read_text())['vit_deep']
    path = tmp_path / 'best_mae.pth'
    torch.save(official_weights(layout), path)
    metrics = test_tool.main([TINY_CLIP_EBC, '--work-dir', str(tmp_path / 'test'),
                              '--weights', str(path)])
    assert metrics['test/RMSE'] >= metrics['test/MAE'] > 0
    layout['unexpected.weight'] = [[1], 'float32']
    torch.save(official_weights(layout), path)
    with pytest.raises(Exception, match='unexpected.weight'):
        test_tool.main([TINY_CLIP_EBC, '--work-dir', str(tmp_path / 'bad'),
                        '--weights', str(path)])


def test_demo_on_a_folder_writes_every_count_to_one_csv(tmp_path):
    """A folder: per-image overlay + JSON, and counts.csv whose rows (read back with the csv
    module) equal the JSON counts; an unreadable image is skipped, not written."""
    import csv
    folder = tmp_path / 'images'
    folder.mkdir()
    for index in range(2):
        image, _, _ = make_dot_image(index, 0, (64, 64), max_count=10)
        atomic_save_image(str(folder / f'dots{index}.png'), image)
    (folder / 'broken.png').write_bytes(b'not an image')
    out = tmp_path / 'out'
    code = demo.main([str(folder), '--vocab', 'red dot, blue dot', '--config', TINY_EBC,
                      '--out', str(out)])
    assert code == 1  # one image could not be read
    with open(out / 'counts.csv', newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert [os.path.basename(r['image']) for r in rows] == ['dots0.png', 'dots1.png']
    for row in rows:
        name = os.path.splitext(os.path.basename(row['image']))[0]
        record = json.loads((out / f'{name}_count.json').read_text())
        for entry in record['counts']:
            assert float(row[entry['label']]) == pytest.approx(entry['count'], abs=1e-3)
        assert float(row['total']) == pytest.approx(record['total'], abs=2e-3)
    assert not list(out.glob('.*tmp'))  # atomic: no temporary files left


def test_count_table_leaves_missing_classes_empty():
    from ovperception.structures import OVDataSample
    from ovperception.writers.counting import CountTable
    table = CountTable()
    first = OVDataSample(metainfo=dict(label_names=['cat']))
    first.pred_count = torch.tensor([2.0])
    second = OVDataSample(metainfo=dict(label_names=['dog', 'cat']))
    second.pred_count = torch.tensor([1.5, 0.25])
    assert table.add('a.png', first) and table.add('b.png', second)
    assert not table.add('c.png', OVDataSample())
    lines = table.to_csv().splitlines()
    assert lines[0] == 'image,cat,dog,total'
    assert lines[1].endswith(',2.0,,2.0') and lines[2].endswith(',0.25,1.5,1.75')
