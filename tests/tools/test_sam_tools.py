"""tools/test.py on the tiny Trident config; the demo's --refiner / --sam-checkpoint flags."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from ovperception.models.clip.weights import WeightsNotFoundError
from ovperception.models.refiners import PAMRRefiner, SAMRefiner, SAMWrapper
from tests.scripts import ROOT, demo, test_tool

TINY_SEG = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
TINY_TRIDENT = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_trident.py')


@pytest.fixture
def tiny_sam_checkpoint(tmp_path) -> tuple[str, SAMWrapper]:
    torch.manual_seed(7)
    sam = SAMWrapper('tiny')
    path = tmp_path / 'sam_tiny.pth'
    torch.save(sam.model.state_dict(), path)
    return str(path), sam


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / 'in' / 'img.png'
    path.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 72, 3), dtype=np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize('config', ['seg_tiny_trident.py', 'seg_tiny_sam.py'])
def test_test_tool_runs_tiny_sam_configs(tmp_path, config):
    metrics = test_tool.main([os.path.join(ROOT, 'configs', 'tiny', config),
                              '--work-dir', str(tmp_path)])
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert json.loads((tmp_path / 'metrics.json').read_text())['metrics']['mIoU'] == \
        metrics['mIoU']


def test_demo_sam_refiner_loads_the_checkpoint_and_writes(tmp_path, image, tiny_sam_checkpoint):
    path, source = tiny_sam_checkpoint
    args = demo.parse_args([image, '--vocab', 'cat, dog', '--config', TINY_SEG, '--out',
                            str(tmp_path / 'out'), '--refiner', 'sam', '--sam-model', 'tiny',
                            '--sam-checkpoint', path])
    model = demo.build_predictor(args).model
    refiner = model.refiners[0]
    assert isinstance(refiner, SAMRefiner) and model.head.return_logits
    for key, value in source.model.state_dict().items():
        assert torch.equal(refiner.sam.model.state_dict()[key], value), key
    code = demo.main([image, '--vocab', 'cat, dog', '--config', TINY_SEG, '--out',
                      str(tmp_path / 'out'), '--refiner', 'sam', '--sam-model', 'tiny',
                      '--sam-checkpoint', path])
    assert code == 0
    labels = np.asarray(Image.open(tmp_path / 'out' / 'img_labels.png'))
    assert labels.shape == (48, 72) and labels.max() <= 2


def test_demo_sam_checkpoint_replaces_a_trident_config_checkpoint(tmp_path, image,
                                                                  tiny_sam_checkpoint):
    path, source = tiny_sam_checkpoint
    args = demo.parse_args([image, '--vocab', 'cat, dog', '--config', TINY_TRIDENT, '--out',
                            str(tmp_path / 'out'), '--sam-model', 'tiny',
                            '--sam-checkpoint', path])
    model = demo.build_predictor(args).model
    assert not len(model.refiners)  # Trident refines inside its head; no second SAM
    weight = 'mask_decoder.iou_token.weight'
    assert torch.equal(model.head.sam.model.state_dict()[weight],
                       source.model.state_dict()[weight])
    assert demo.main([image, '--vocab', 'cat, dog', '--config', TINY_TRIDENT, '--out',
                      str(tmp_path / 'out')]) == 0


def test_demo_refiner_choices_and_errors(tmp_path, image):
    base = [image, '--vocab', 'cat, dog', '--config', TINY_SEG, '--out', str(tmp_path / 'o')]
    for flags in (['--pamr'], ['--refiner', 'pamr']):
        model = demo.build_predictor(demo.parse_args(base + flags)).model
        assert isinstance(model.head.score_refiner, PAMRRefiner)
    plain = demo.build_predictor(demo.parse_args(base + ['--refiner', 'none'])).model
    assert plain.head.score_refiner is None and not len(plain.refiners)
    with pytest.raises(SystemExit, match='contradicts'):
        demo.build_predictor(demo.parse_args(base + ['--pamr', '--refiner', 'sam']))
    with pytest.raises(SystemExit, match='sam_vit_b_01ec64.pth'):
        demo.build_predictor(demo.parse_args(base + ['--refiner', 'sam']))
    missing = str(tmp_path / 'nowhere' / 'sam_vit_b_01ec64.pth')
    with pytest.raises(WeightsNotFoundError, match='--sam-checkpoint PATH'):
        demo.main(base + ['--refiner', 'sam', '--sam-checkpoint', missing])
