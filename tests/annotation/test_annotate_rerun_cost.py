"""A rerun with nothing new costs a stat per input, not a hash and a parse (issue #23,
item 5: it must take less than the model build): inputs whose (size, mtime, inode) are
unchanged are not hashed again, manifest entries whose stat is unchanged are not parsed;
a changed input is still hashed and redone, a touched but equal one hashed and reused."""
from __future__ import annotations

import os
import time

import pytest

from tests.annotation.inputs import annotate_args, make_inputs, summary
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')


def _age(paths: list[str], seconds: float = 3600) -> None:
    """Files written long ago (a freshly written file is hashed again: racy mtime)."""
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


@pytest.fixture
def finished(tmp_path):
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png', 'b/y.png'), broken=True,
                         video=True)
    _age([os.path.join(root, name) for root, _, names in os.walk(source) for name in names])
    out = str(tmp_path / 'out')
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3')) == 3
    return source, out


def test_rerun_with_nothing_new_hashes_no_input_and_parses_no_entry(finished, monkeypatch):
    source, out = finished
    from ovperception.annotation import manifest, merge, run
    monkeypatch.setattr(run, 'build_predictor', lambda *a, **k: pytest.fail('model built'))
    monkeypatch.setattr(manifest, 'file_sha256', lambda path: pytest.fail(f'hashed {path}'))
    monkeypatch.setattr(merge, 'load_results', lambda *a: pytest.fail('entries loaded'))
    read = manifest._read
    parsed = []
    monkeypatch.setattr(manifest, '_read', lambda path: parsed.append(path) or read(path))
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3')) == 3
    info = summary(out)
    assert info['datasets_rewritten'] == [] and info['images'] == 4 and info['objects'] > 0
    assert not [p for p in parsed if os.sep + 'items' + os.sep in p], parsed


def test_changed_and_touched_inputs_are_hashed_again(finished, monkeypatch):
    source, out = finished
    changed, touched = os.path.join(source, 'a', 'x.png'), os.path.join(source, 'b', 'y.png')
    with open(touched, 'rb') as handle:
        same = handle.read()
    with open(touched, 'wb') as handle:  # same bytes, new mtime: hashed, not redone
        handle.write(same)
    with open(changed, 'r+b') as handle:  # same size, other bytes: redone
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))
    _age([changed, touched], 1800)
    from ovperception.annotation import manifest
    hashed = []
    real = manifest.file_sha256
    monkeypatch.setattr(manifest, 'file_sha256', lambda path: hashed.append(path) or real(path))
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3')) == 3
    assert sorted(hashed) == sorted([changed, touched])
    assert summary(out)['annotated_now'] == 1
