"""tools/annotate.py --tags-from (each image segmented with its own tags) and vocabulary-free
annotation (names chosen per image): labels land in one dataset vocabulary."""
from __future__ import annotations

import json
import os

import pytest

from ovperception.engine.runner_cli import run_cli
from tests.annotation.inputs import ROOT, SEG_TINY, make_inputs, stored_results
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')
CASED_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_cased.py')


def _args(source: str, out: str, *extra: str) -> list[str]:
    return [source, '--out', out, '--config', SEG_TINY, '--device', 'cpu', '--no-progress',
            '--format', 'coco', *extra]


def _fails(argv: list[str], capsys) -> str:
    """The one-line error of a run that exits 1."""
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: annotate.main(argv))
    assert stop.value.code == 1
    return capsys.readouterr().err


def _coco_categories(out: str) -> list[str]:
    path = os.path.join(out, 'coco', 'annotations.json')
    with open(path, encoding='utf-8') as handle:
        return [c['name'] for c in json.load(handle)['categories']]


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    return make_inputs(str(tmp_path_factory.mktemp('tags') / 'in'), broken=False, video=False)


def test_tags_csv_restricts_each_image_to_its_tags(source, tmp_path):
    tags = tmp_path / 'tags.csv'
    tags.write_text('image,tags\na/x.jpg,cat\nx.png,"dog, grass"\nb/x.jpg,cat|sky\n')
    out = str(tmp_path / 'out')
    assert annotate.main(_args(source, out, '--tags-from', str(tags))) == 0
    assert _coco_categories(out) == ['cat', 'dog', 'grass', 'sky']
    stored = stored_results(out)
    allowed = {'a/x.jpg': {0}, 'a/x.png': {1, 2}, 'b/x.jpg': {0, 3}}  # x.png by file name
    for name, labels in allowed.items():
        found = {o.label for o in stored[name][1]}
        assert found and found <= labels, (name, found)
    # the same run without tags uses every name on every image
    free = str(tmp_path / 'all')
    assert annotate.main(_args(source, free, '--vocab', 'cat, dog, grass, sky')) == 0
    assert {o.label for o in stored_results(free)['a/x.jpg'][1]} != {0}


def test_tags_json_with_vocab_synonyms(source, tmp_path):
    tags = tmp_path / 'tags.json'
    tags.write_text(json.dumps([{'image': 'a/x.jpg', 'tags': ['kitten']},
                                {'image': 'a/x.png', 'tags': ['dog']},
                                {'image': 'b/x.jpg', 'tags': []}]))
    out = str(tmp_path / 'out')
    assert annotate.main(_args(source, out, '--vocab', 'cat; kitten, dog',
                               '--tags-from', str(tags))) == 0
    stored = stored_results(out)
    assert {o.label for o in stored['a/x.jpg'][1]} == {0}
    assert {o.label for o in stored['a/x.png'][1]} == {1}
    assert stored['b/x.jpg'][1] == []  # tagged with nothing: no object


@pytest.mark.parametrize('content, message', [
    ('image,tags\na/x.jpg,cat\n', 'have no entry'),
    ('name,labels\na/x.jpg,cat\n', 'header'),
])
def test_bad_tags_files_fail_in_one_line(source, tmp_path, capsys, content, message):
    tags = tmp_path / 'tags.csv'
    tags.write_text(content)
    assert message in _fails(_args(source, str(tmp_path / 'out'), '--tags-from', str(tags)),
                             capsys)


def test_unknown_tag_for_vocab_fails(source, tmp_path, capsys):
    tags = tmp_path / 'tags.json'
    tags.write_text(json.dumps({'a/x.jpg': ['horse'], 'a/x.png': [], 'b/x.jpg': []}))
    assert 'not names of --vocab' in _fails(_args(source, str(tmp_path / 'out'), '--vocab',
                                                  'cat', '--tags-from', str(tags)), capsys)


def test_vocabulary_free_annotation_records_the_chosen_names(source, tmp_path, monkeypatch):
    monkeypatch.setenv('OVP_CAPTION_INDEX_DIR', str(tmp_path / 'index'))
    out = str(tmp_path / 'out')
    args = [source, '--out', out, '--config', CASED_TINY, '--device', 'cpu', '--no-progress',
            '--format', 'coco']
    assert annotate.main(args) == 0
    with open(os.path.join(out, 'chosen_names.json'), encoding='utf-8') as handle:
        chosen = json.load(handle)['images']
    assert set(chosen) == {'a/x.jpg', 'a/x.png', 'b/x.jpg'}
    names = list(dict.fromkeys(c['name'] for entry in chosen.values()
                               for c in entry['chosen']))
    assert _coco_categories(out) == names
    for name, entry in chosen.items():
        own = {names.index(c['name']) for c in entry['chosen']}
        assert {o.label for o in stored_results(out)[name][1]} <= own
    # a rerun reads the chosen names back and reuses every result: no model is built
    from ovperception.annotation import name_choice
    monkeypatch.setattr(name_choice.NameChooser, '_build', lambda self: pytest.fail('built'))
    assert annotate.main(args) == 0
    with open(os.path.join(out, 'summary.json'), encoding='utf-8') as handle:
        assert json.load(handle)['model_built'] is False


def test_no_vocab_and_no_selector_fails(source, tmp_path, capsys):
    assert '--vocab or --tags-from is required' in _fails(
        _args(source, str(tmp_path / 'out')), capsys)


def test_tags_through_excel_give_only_tags_and_background(source, tmp_path):
    """ExCEL (configs/tiny/seg_tiny_excel.py): each image's pixels are its tags or unlabelled."""
    tags = tmp_path / 'tags.json'
    tags.write_text(json.dumps({'a/x.jpg': ['cat', 'dog'], 'a/x.png': ['dog'],
                                'b/x.jpg': ['sky']}))
    out = str(tmp_path / 'out')
    excel = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel.py')
    assert annotate.main([source, '--out', out, '--config', excel, '--device', 'cpu',
                          '--no-progress', '--format', 'coco', '--tags-from', str(tags)]) == 0
    assert _coco_categories(out) == ['cat', 'dog', 'sky']
    stored = stored_results(out)
    for name, allowed in {'a/x.jpg': {0, 1}, 'a/x.png': {1}, 'b/x.jpg': {2}}.items():
        found = {o.label for o in stored[name][1]}
        assert found and found <= allowed, (name, found)
