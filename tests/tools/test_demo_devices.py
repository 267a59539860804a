"""demo/image_demo.py: --device auto (default), --fp16/--bf16 autocast, --offline."""
from __future__ import annotations

import os
import time

import pytest
import torch

from ovperception.models.clip.weights import WeightsNotFoundError
from tests.scripts import ROOT, demo

SEG_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
IMAGE = os.path.join(ROOT, 'demo', 'examples', 'shapes.png')


def test_device_defaults_to_auto_and_bf16_sets_the_encoder_autocast(tmp_path):
    args = demo.parse_args([IMAGE, '--vocab', 'a, b', '--out', str(tmp_path), '--bf16',
                            '--config', SEG_TINY])
    assert args.device == 'auto' and args.amp == 'bf16'
    args.device = demo.resolve_device(args.device)
    assert args.device == ('cuda' if torch.cuda.is_available() else 'cpu')  # no MPS in CI
    assert demo.build_predictor(args).model.test_cfg['amp_dtype'] == 'bf16'
    with pytest.raises(SystemExit):
        demo.parse_args([IMAGE, '--vocab', 'a', '--out', str(tmp_path), '--fp16', '--bf16'])


def test_bf16_on_cpu_runs_end_to_end(tmp_path):
    assert demo.main([IMAGE, '--vocab', 'red square, green circle', '--config', SEG_TINY,
                      '--out', str(tmp_path), '--bf16', '--device', 'cpu']) == 0
    assert {'shapes_labels.png', 'shapes_overlay.png', 'shapes.json'} <= set(
        os.listdir(tmp_path))


def test_offline_flag_fails_fast_with_the_fix_even_with_a_network(local_hub, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv('OVP_OFFLINE', '0')  # restored after the test (--offline sets it)
    start = time.monotonic()
    with pytest.raises(WeightsNotFoundError, match='--offline was given') as error:
        demo.main([IMAGE, '--vocab', 'a, b', '--out', str(tmp_path), '--offline'])
    assert time.monotonic() - start < 2.0
    assert 'Fix:' in str(error.value) and local_hub.requests == []


@pytest.mark.gpu
@pytest.mark.parametrize('precision', ['--fp16', '--bf16'])
def test_auto_device_picks_cuda_and_runs_half_precision(tmp_path, precision):
    assert demo.resolve_device('auto') == 'cuda'
    assert demo.main([IMAGE, '--vocab', 'red square, green circle', '--config', SEG_TINY,
                      '--out', str(tmp_path), precision]) == 0
    assert 'shapes_labels.png' in os.listdir(tmp_path)
