"""Demo hardening (issue 17): output naming, --out checks, early validation, re-runs into the
input folder, Ctrl-C, unknown nested --cfg-options keys, configured background words."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ovperception.engine.runner_cli import run_cli
from ovperception.models import ov_model
from tests.scripts import ROOT, demo

TINY_SEG = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
TINY_DET = os.path.join(ROOT, 'configs', 'tiny', 'det_tiny.py')


def _image(path, size=(40, 56), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _run(*args):
    return demo.main([*map(str, args)])


def test_same_stem_inputs_get_their_own_outputs(tmp_path):
    folder = tmp_path / 'in'
    for name, seed in (('a.jpg', 0), ('a.png', 1), ('sub/a.png', 2), ('b.png', 3)):
        _image(folder / name, size=(40 + 8 * seed, 56), seed=seed)
    out = tmp_path / 'out'
    assert _run(folder, '--vocab', 'x, y', '--config', TINY_SEG, '--out', out) == 0
    heights = {}
    for stem in ('a.jpg', 'a.png', 'sub/a', 'b'):
        annotation = json.loads((out / f'{stem}.json').read_text())
        heights[stem] = annotation['image']['height']
        assert (out / f'{stem}_overlay.png').is_file() and (out / f'{stem}_labels.png').is_file()
    assert heights == {'a.jpg': 40, 'a.png': 48, 'sub/a': 56, 'b': 64}
    assert not (out / 'a.json').exists()


def test_out_is_an_existing_file_or_not_writable_one_line(tmp_path):
    image = _image(tmp_path / 'in' / 'img.png')
    blocker = tmp_path / 'file.txt'
    blocker.write_text('x')
    with pytest.raises(NotADirectoryError, match='existing file'):
        _run(image, '--vocab', 'a', '--config', TINY_SEG, '--out', blocker)
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip('root ignores directory permissions')
        with pytest.raises(PermissionError, match='not writable'):
            _run(image, '--vocab', 'a', '--config', TINY_SEG, '--out', locked)
    finally:
        locked.chmod(0o700)


def test_errors_and_ctrl_c_are_one_line_from_the_command_line(tmp_path, capsys):
    image = _image(tmp_path / 'in' / 'img.png')
    blocker = tmp_path / 'file.txt'
    blocker.write_text('x')
    with pytest.raises(SystemExit) as stopped:
        run_cli(lambda: _run(image, '--vocab', 'a', '--config', TINY_SEG, '--out', blocker))
    err = capsys.readouterr().err
    assert stopped.value.code == 1
    assert err.strip().count('\n') == 0 and 'existing file' in err

    def interrupted() -> int:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as stopped:
        run_cli(interrupted)
    err = capsys.readouterr().err
    assert stopped.value.code == 130
    assert err.strip().count('\n') == 0 and 'interrupted' in err


def test_unknown_nested_cfg_option_fails_before_building(tmp_path, monkeypatch):
    image = _image(tmp_path / 'in' / 'img.png')
    monkeypatch.setattr(demo, 'build_predictor', lambda args: pytest.fail('model was built'))
    with pytest.raises(KeyError, match="DenseSimilarityHead.*logit_scal'"):
        _run(image, '--vocab', 'a', '--config', TINY_SEG, '--out', tmp_path / 'out',
             '--cfg-options', 'model.head.logit_scal=3')


def test_bad_images_and_vocabulary_are_reported_before_the_model_is_built(tmp_path, monkeypatch,
                                                                          capsys):
    folder = tmp_path / 'in'
    (folder).mkdir()
    (folder / 'broken.png').write_bytes(b'no image at all')
    monkeypatch.setattr(demo, 'build_predictor', lambda args: pytest.fail('model was built'))
    assert _run(folder, '--vocab', 'a', '--config', TINY_SEG, '--out', tmp_path / 'out') == 1
    assert 'broken.png' in capsys.readouterr().err
    _image(folder / 'ok.png')
    with pytest.raises(ValueError, match='duplicate'):
        _run(folder, '--vocab', 'a, a', '--config', TINY_SEG, '--out', tmp_path / 'out')


def test_out_equal_to_the_input_folder_skips_earlier_outputs_and_collisions(tmp_path, capsys):
    folder = tmp_path / 'photos'
    _image(folder / 'img.png', seed=0)
    _image(folder / 'other.png', seed=1)
    assert _run(folder, '--vocab', 'a, b', '--config', TINY_SEG, '--out', folder) == 0
    first = sorted(p.name for p in folder.iterdir())
    # the second run does not take the first run's PNGs as inputs
    assert _run(folder, '--vocab', 'a, b', '--config', TINY_SEG, '--out', folder) == 0
    assert sorted(p.name for p in folder.iterdir()) == first
    assert 'outputs of an earlier run' in capsys.readouterr().err
    # a user's image named like an output of another input: that input is skipped, not the run
    _image(folder / 'new.png', seed=2)
    _image(folder / 'new_labels.png', seed=3)
    before = (folder / 'new_labels.png').read_bytes()
    assert _run(folder, '--vocab', 'a, b', '--config', TINY_SEG, '--out', folder) == 1
    err = capsys.readouterr().err
    assert 'skipped' in err and 'new.png' in err
    assert (folder / 'new_labels.png').read_bytes() == before
    assert (folder / 'new_labels_overlay.png').is_file()  # the colliding name is an input


def test_a_named_class_wins_over_a_configured_background_word(tmp_path, monkeypatch):
    image = _image(tmp_path / 'in' / 'img.png', size=(48, 64))
    warnings = []
    monkeypatch.setattr(ov_model, 'print_log', lambda message, **kw: warnings.append(message))
    assert _run(image, '--vocab', 'cat, sky', '--config', TINY_DET, '--out', tmp_path / 'out') == 0
    assert len(warnings) == 1 and "['sky']" in warnings[0]
    assert 'model.background_words' in warnings[0] and '--background-words' in warnings[0]
    dataset = json.loads((tmp_path / 'out' / 'img_detections.json').read_text())
    assert [c['name'] for c in dataset['categories']] == ['cat', 'sky']
