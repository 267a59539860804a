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


def test_caption_database_chooses_words_from_its_captions(tmp_path, capsys, monkeypatch):
    """The paper's setting: captions -> candidate words (tag filter off here: NLTK's tagger
    data is not installed in tests), scored per cell; each word is encoded once."""
    monkeypatch.setenv('OVP_CAPTION_INDEX_DIR', str(tmp_path / 'index'))
    captions = tmp_path / 'captions.txt'
    captions.write_text('a red square on a black table\nred squares and green circles\n'
                        'a green circle near a red square\na table with circles\n')
    out = tmp_path / 'out'
    assert demo.main([IMAGE, '--config', CASED_TINY, '--out', str(out), '--cfg-options',
                      f'model.vocabulary_selector.database={captions}',
                      'model.vocabulary_selector.entries_are_names=False',
                      'model.vocabulary_selector.pos_tagger=None']) == 0
    chosen = json.loads((out / 'shapes.json').read_text())['chosen_names']
    words = {'red', 'square', 'black', 'table', 'green', 'circle', 'near', 'with', 'and'}
    assert chosen and {c['name'] for c in chosen} <= words


def test_missing_database_fails_before_the_model(tmp_path, capsys):
    from ovperception.utils.cli import run_cli
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: demo.main([IMAGE, '--config', CASED_TINY, '--out', str(tmp_path / 'o'),
                                   '--cfg-options',
                                   'model.vocabulary_selector.database=/no/such/captions.txt']))
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert 'neither "default", a file nor a folder' in err and 'building the model' not in err
