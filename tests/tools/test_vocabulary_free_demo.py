"""The demo segments with no --vocab on a vocabulary-free config and prints the chosen names."""
from __future__ import annotations

import json
import os

import pytest

from tests.scripts import ROOT, demo

CASED_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_cased.py')
SEG_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
IMAGE = os.path.join(ROOT, 'demo', 'examples', 'shapes.png')


def test_demo_without_vocab_prints_and_writes_the_chosen_names(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('OVP_CAPTION_INDEX_DIR', str(tmp_path / 'index'))
    out = tmp_path / 'out'
    assert demo.main([IMAGE, '--config', CASED_TINY, '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'chosen names: ' in printed
    record = json.loads((out / 'shapes.json').read_text())
    chosen = record['chosen_names']
    assert chosen and all(set(c) == {'name', 'score', 'coverage'} for c in chosen)
    assert abs(sum(c['coverage'] for c in chosen) - 1.0) < 1e-3  # every cell picks one name
    assert [c['name'] for c in chosen] == record['label_names']  # the segmented vocabulary
    assert chosen[0]['name'] in printed
    assert os.listdir(tmp_path / 'index')  # the shipped bank was indexed once, on disk


def test_config_without_selector_needs_vocab(tmp_path):
    with pytest.raises(SystemExit, match='--vocab is required'):
        demo.main([IMAGE, '--config', SEG_TINY, '--out', str(tmp_path / 'out')])
