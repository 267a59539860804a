"""End-to-end runs of tools/test.py, tools/train.py and the demo on tiny configs."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ovperception.models.clip.weights import WeightsNotFoundError
from tests.scripts import ROOT, demo, test_tool, train_tool

TINY_TEST = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
TINY_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_adapted.py')


def test_test_tool_prints_and_saves_metrics(tmp_path, capsys):
    metrics = test_tool.main([TINY_TEST, '--work-dir', str(tmp_path), '--show-dir', 'vis'])
    assert set(metrics) >= {'aAcc', 'mIoU', 'mAcc'}
    assert 0.0 <= metrics['mIoU'] <= 100.0
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['metrics']['mIoU'] == metrics['mIoU']
    assert 'mIoU' in capsys.readouterr().out
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 8


def test_unknown_cfg_option_is_rejected(tmp_path):
    with pytest.raises(KeyError, match='unknown top-level'):
        test_tool.main([TINY_TEST, '--work-dir', str(tmp_path), '--cfg-options', 'modle.x=1'])


def test_training_free_config_refuses_training(tmp_path):
    with pytest.raises(ValueError, match='training-free'):
        train_tool.main([TINY_TEST, '--work-dir', str(tmp_path)])


@pytest.mark.slow
def test_train_resume_and_evaluate_checkpoint(tmp_path):
    work = str(tmp_path / 'work')
    options = ['train_cfg.max_iters=60', 'train_cfg.val_interval=60',
               'default_hooks.checkpoint.interval=40', 'param_scheduler.0.end=80']
    untrained = test_tool.main([TINY_TRAIN, '--work-dir', str(tmp_path / 'before')])
    runner = train_tool.main([TINY_TRAIN, '--work-dir', work, '--cfg-options', *options])
    assert runner.iter == 60
    history = runner.message_hub.get_scalar('train/loss').data[0]
    assert history[-5:].mean() < 0.6 * history[:5].mean(), 'the loss must fall'
    trained = test_tool.main([TINY_TRAIN, '--work-dir', str(tmp_path / 'after'),
                              '--weights', os.path.join(work, 'iter_60.pth')])
    assert trained['mIoU'] > untrained['mIoU'] + 20

    # resume from iteration 40 reproduces the loss of iterations 41..60 of the first run
    resumed = train_tool.main([TINY_TRAIN, '--work-dir', work, '--resume',
                               os.path.join(work, 'iter_40.pth'), '--cfg-options', *options])
    assert resumed.iter == 60
    again = resumed.message_hub.get_scalar('train/loss').data[0]
    assert np.allclose(again[-20:], history[-20:], atol=1e-5)


def test_clip_weights_file_round_trip_through_test_tool(tmp_path):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ovperception.registry import MODELS
    init_default_scope('ovperception')
    cfg = Config.fromfile(TINY_TEST)
    model = MODELS.build(cfg.model)
    path = tmp_path / 'tiny_clip.pt'
    torch.save(model.backbone.model.state_dict(), path)
    a = test_tool.main([TINY_TEST, '--work-dir', str(tmp_path / 'a'), '--weights', str(path)])
    b = test_tool.main([TINY_TEST, '--work-dir', str(tmp_path / 'b'), '--weights', str(path)])
    assert a == b, 'the same weights file must give the same metrics'
    with pytest.raises(WeightsNotFoundError):
        test_tool.main([TINY_TEST, '--work-dir', str(tmp_path / 'c'),
                        '--weights', str(tmp_path / 'missing.pt')])


def test_pretrained_tag_offline_fails_at_once_with_the_fix(tmp_path):
    with pytest.raises(WeightsNotFoundError, match='download_weights'):
        test_tool.main([TINY_TEST, '--work-dir', str(tmp_path),
                        '--cfg-options', 'model.backbone.pretrained=openai',
                        'model.backbone.cache_dir=' + str(tmp_path / 'cache')])


def _write_images(folder, count=2):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f'img{index}.png'
        Image.fromarray(rng.integers(0, 255, (40 + index * 8, 56, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_demo_on_an_image_writes_overlay_labels_and_json(tmp_path):
    image = _write_images(tmp_path / 'in', 1)[0]
    before = image.read_bytes()
    code = demo.main([str(image), '--vocab', 'cat, dog; puppy', '--background-words', 'sky',
                      '--config', TINY_TEST, '--out', str(tmp_path / 'out')])
    assert code == 0
    assert image.read_bytes() == before
    annotation = json.loads((tmp_path / 'out' / 'img0.json').read_text())
    assert annotation['label_names'] == ['cat', 'dog']
    labels = np.asarray(Image.open(tmp_path / 'out' / 'img0_labels.png'))
    assert labels.shape == (40, 56) and labels.max() <= 2
    total = sum(a['area'] for a in annotation['annotations']) + annotation['unlabelled_area']
    assert total == 40 * 56
    overlay = np.asarray(Image.open(tmp_path / 'out' / 'img0_overlay.png'))
    assert overlay.ndim == 3 and overlay.shape[1] > 56


def test_demo_on_a_folder_skips_corrupt_files_and_reports_them(tmp_path, capsys):
    _write_images(tmp_path / 'in', 2)
    (tmp_path / 'in' / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    code = demo.main([str(tmp_path / 'in'), '--vocab', 'a,b', '--config', TINY_TEST,
                      '--out', str(tmp_path / 'out')])
    assert code == 1
    assert 'broken.jpg' in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / 'out').glob('*.json')) == ['img0.json', 'img1.json']


@pytest.mark.parametrize('vocab', ['', ' , ', 'cat, cat'])
def test_demo_rejects_empty_or_duplicate_vocabularies(tmp_path, vocab):
    image = _write_images(tmp_path / 'in', 1)[0]
    with pytest.raises(ValueError):
        demo.main([str(image), '--vocab', vocab, '--config', TINY_TEST,
                   '--out', str(tmp_path / 'out')])


def test_demo_never_overwrites_an_input(tmp_path):
    folder = tmp_path / 'in'
    _write_images(folder, 1)
    (folder / 'img0_overlay.png').write_bytes(b'precious')
    # img0's outputs would overwrite an input: img0 is skipped with a note, the run goes on
    assert demo.main([str(folder), '--vocab', 'a', '--config', TINY_TEST,
                      '--out', str(folder)]) == 1
    assert (folder / 'img0_overlay.png').read_bytes() == b'precious'


def test_two_runs_of_one_config_in_one_second_log_to_their_own_files(tmp_path, monkeypatch):
    import time

    import mmengine.runner.runner as runner_module

    class FrozenClock:  # both runners get the same timestamp, as in one second
        def __getattr__(self, name: str):
            return getattr(time, name)

        @staticmethod
        def strftime(fmt: str, *args) -> str:
            return '20260101_000000'

    monkeypatch.setattr(runner_module, 'time', FrozenClock())
    for name in ('first', 'second'):
        test_tool.main([TINY_TEST, '--work-dir', str(tmp_path / name)])
    for name in ('first', 'second'):
        logs = list((tmp_path / name).rglob('*.log'))
        assert logs and 'mIoU' in ''.join(p.read_text() for p in logs), name
