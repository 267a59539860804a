"""Item-6 messages: tools/download_weights.py fails in one line, SAM points at `official`,
tools/test.py leaves no run folder when it fails while building."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ovperception.models.clip.weights import WeightsNotFoundError
from tests.scripts import ROOT, demo, test_tool

TINY_TEST = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')


@pytest.mark.parametrize('argv', [['--sam', 'vit_b'], ['--dino', 'vit_small_patch16_224.dino']])
def test_download_tool_offline_is_one_line_without_traceback(tmp_path, argv):
    env = dict(os.environ, PYTHONPATH=ROOT, HF_HUB_OFFLINE='1', TORCH_HOME=str(tmp_path),
               HF_HOME=str(tmp_path / 'hf'))
    result = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'download_weights.py'),
                             *argv, '--cache-dir', str(tmp_path / 'cache')],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in result.stderr
    assert 'HF_HUB_OFFLINE=1' in lines[0] and 'Fix' in lines[0]


def test_sam_messages_name_the_official_choice(tmp_path):
    from ovperception.models.refiners.sam import sam_missing_checkpoint_message
    message = sam_missing_checkpoint_message('vit_b', str(tmp_path / 'x.pth'))
    assert '--sam-checkpoint official' in message and 'never downloads' not in message
    from PIL import Image
    Image.new('RGB', (32, 32)).save(tmp_path / 'a.png')
    with pytest.raises(SystemExit, match='official'):
        demo.main([str(tmp_path / 'a.png'), '--vocab', 'cat', '--out', str(tmp_path / 'o'),
                   '--refiner', 'sam', '--config', TINY_TEST])


def test_test_tool_failing_while_building_leaves_no_run_folder(tmp_path):
    work = tmp_path / 'work'
    with pytest.raises(WeightsNotFoundError):
        test_tool.main([TINY_TEST, '--work-dir', str(work),
                        '--weights', str(tmp_path / 'missing.pt')])
    assert not work.exists()
    with pytest.raises(WeightsNotFoundError):  # offline tag: fails inside the runner's build
        test_tool.main([TINY_TEST, '--work-dir', str(work), '--cfg-options',
                        'model.backbone.pretrained=openai',
                        'model.backbone.cache_dir=' + str(tmp_path / 'cache')])
    assert not work.exists()
