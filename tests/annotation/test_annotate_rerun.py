"""Reruns (issue #23, items 3-6): nothing new builds no model and rewrites no dataset;
--overlays on a rerun draws finished images without the model; a rerun with fewer formats
leaves no stale dataset; task options that do not apply are refused (never hashed);
partial success has its own exit status and summary line."""
from __future__ import annotations

import os

import pytest

from tests.annotation.inputs import annotate_args, make_inputs, stored_results, summary
from tests.scripts import load_script

annotate = load_script('tools/annotate.py')


@pytest.fixture
def no_model(monkeypatch):
    """Building the model fails the test."""
    from ovperception.annotation import run
    monkeypatch.setattr(run, 'build_predictor', lambda *a, **k: pytest.fail('model built'))


def dataset_mtimes(out: str) -> dict[str, int]:
    return {os.path.join(root, name): os.lstat(os.path.join(root, name)).st_mtime_ns
            for fmt in ('coco', 'yolo', 'voc', 'labelstudio', 'cvat')
            for root, _, names in os.walk(os.path.join(out, fmt)) for name in names}


@pytest.fixture
def finished(tmp_path):
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png', 'b/y.png'), broken=False,
                         video=True)
    out = str(tmp_path / 'out')
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3')) == 0
    assert summary(out)['model_built']
    return source, out


def test_rerun_with_nothing_new_builds_no_model_and_rewrites_nothing(finished, monkeypatch,
                                                                      capsys):
    source, out = finished
    before = dataset_mtimes(out)
    from ovperception.annotation import run
    monkeypatch.setattr(run, 'build_predictor', lambda *a, **k: pytest.fail('model built'))
    capsys.readouterr()
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3')) == 0
    info = summary(out)
    assert not info['model_built'] and info['annotated_now'] == 0
    assert info['datasets_rewritten'] == [] and dataset_mtimes(out) == before
    assert 'annotated 4 images (0 new, 3 reused)' in capsys.readouterr().out


def test_overlays_on_a_rerun_are_drawn_without_the_model(finished, no_model):
    source, out = finished
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3', '--overlays')) == 0
    overlay = os.path.join(out, 'overlays', 'a', 'x.png.png')
    assert os.path.isfile(overlay) and os.path.isfile(
        os.path.join(out, 'overlays', 'b', 'y.png.png'))
    os.unlink(overlay)  # a deleted overlay comes back
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3', '--overlays')) == 0
    assert os.path.isfile(overlay)
    os.unlink(os.path.join(out, 'videos', 'clip.mp4.overlay.mp4'))
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3')) == 0
    assert os.path.isfile(os.path.join(out, 'videos', 'clip.mp4.overlay.mp4'))


def test_rerun_with_fewer_formats_leaves_no_stale_dataset(finished, capsys):
    source, out = finished
    os.unlink(os.path.join(source, 'b', 'y.png'))
    capsys.readouterr()
    assert annotate.main(annotate_args(source, out, '--frame-stride', '3',
                                       '--format', 'coco')) == 0
    assert 'also kept up to date: ' in capsys.readouterr().out
    for fmt in ('yolo', 'voc', 'cvat', 'labelstudio'):
        with open(os.path.join(out, fmt, os.listdir(os.path.join(out, fmt))[0])
                  if fmt in ('cvat', 'labelstudio') else os.devnull, 'rb') as handle:
            assert b'b/y.png' not in handle.read()
    assert 'b__y.txt' not in os.listdir(os.path.join(out, 'yolo', 'detect', 'labels'))
    assert 'b__y.xml' not in os.listdir(os.path.join(out, 'voc', 'Annotations'))
    assert set(summary(out)['formats_of_earlier_runs']) == {'yolo', 'voc', 'cvat',
                                                            'labelstudio'}


@pytest.mark.parametrize('option, value, task', [
    ('--score-thr', '0.3', 'seg'), ('--anomaly-threshold', '0.4', 'seg'),
    ('--min-area', '5', 'det')])
def test_options_of_another_task_are_refused_before_the_model(tmp_path, no_model, capsys,
                                                              option, value, task):
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png',), broken=False,
                         video=False)
    argv = annotate_args(source, str(tmp_path / 'out'), option, value)
    del argv[argv.index('--min-area'):argv.index('--min-area') + 2]
    argv += [option, value]
    if task == 'det':
        argv[argv.index('--config') + 1] = argv[argv.index('--config') + 1].replace(
            'seg_tiny', 'det_tiny')
    from ovperception.engine.runner_cli import run_cli
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: annotate.main(argv))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f'{option} applies to --task' in err[0], err


def test_partial_success_has_its_own_exit_status(tmp_path, capsys):
    source = make_inputs(str(tmp_path / 'in'), images=('a/x.png',), broken=True, video=False)
    with open(os.path.join(source, 'empty.png'), 'wb'):
        pass
    out = str(tmp_path / 'out')
    assert annotate.main(annotate_args(source, out)) == 3
    captured = capsys.readouterr()
    assert 'annotated 1 image (1 new, 0 reused)' in captured.out
    assert 'partial: 2 of 3 inputs could not be read' in captured.err
    info = summary(out)
    assert info['status'] == 'partial' and len(stored_results(out)) == 1
    errors = {f['name']: f['error'] for f in info['failed']}
    assert errors['empty.png'].endswith('the file is empty (0 bytes)')
    assert 'not a recognised' in errors['broken.jpg']


def test_giving_an_option_its_default_value_redoes_nothing(finished, monkeypatch):
    """``--min-area 1`` is the default: the options hash is the same (issue #23, item 5)."""
    source, out = finished
    argv = annotate_args(source, out, '--frame-stride', '3')
    argv[argv.index('--min-area') + 1] = '1'
    assert annotate.main(argv) == 0  # the fixture's run used --min-area 20: redo expected
    from ovperception.annotation import run
    monkeypatch.setattr(run, 'build_predictor', lambda *a, **k: pytest.fail('model built'))
    del argv[argv.index('--min-area'):argv.index('--min-area') + 2]
    assert annotate.main(argv) == 0 and summary(out)['annotated_now'] == 0
