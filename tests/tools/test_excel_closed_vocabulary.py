"""A trained ExCEL is a closed-vocabulary segmenter: every entry point (the torch-free config
reader, the demo, tools/annotate.py, the web app, the benchmark) uses its trained classes when
given no vocabulary and refuses other classes with one line before any model is built."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ovperception.utils.closed_vocabulary import (check_command_vocabulary,
                                                  configured_head_classes, vocabulary_in_head)
from tests.scripts import ROOT, demo, load_script, train_tool

annotate = load_script('tools/annotate.py')
TINY_EXCEL_TRAIN = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_excel_train.py')
FULL_EXCEL = os.path.join(ROOT, 'configs', 'segmentation', 'excel_vitb16_voc_val_msc.py')
TINY_CLASSES = ['grey striped background', 'red square', 'green circle', 'blue triangle']
MISSING_WEIGHTS = '/nonexistent/excel_iter_4.pth'


@pytest.fixture(scope='module')
def weights(tmp_path_factory) -> str:
    """One trained checkpoint for the module (4 iterations of the tiny config)."""
    work = str(tmp_path_factory.mktemp('excel_work'))
    train_tool.main([TINY_EXCEL_TRAIN, '--work-dir', work, '--cfg-options',
                     'train_cfg.max_iters=4', 'param_scheduler.0.end=4',
                     'default_hooks.checkpoint.interval=4'])
    return os.path.join(work, 'iter_4.pth')


@pytest.fixture(scope='module')
def image(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp('excel_in')
    path = folder / 'img.png'
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 52, 3), dtype=np.uint8)).save(path)
    return str(path)


def _run_light(code: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter; it prints whether torch got imported."""
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)


def test_the_config_reader_finds_head_classes_without_torch():
    assert configured_head_classes(TINY_EXCEL_TRAIN) == TINY_CLASSES
    voc = configured_head_classes(FULL_EXCEL)  # head_classes='excel/voc21', a shipped file
    assert len(voc) == 21 and voc[0] == 'background' and voc[-1] == 'tvmonitor'
    assert configured_head_classes(FULL_EXCEL, {'model.head_classes': ['bg', 'cat']}) == [
        'bg', 'cat']
    assert configured_head_classes(FULL_EXCEL, {'model.seg_head': None}) is None
    assert configured_head_classes(os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')) is None
    assert vocabulary_in_head(['Blue Triangle', 'red square; box'], TINY_CLASSES) == [3, 1]
    with pytest.raises(ValueError, match=r"knows only .*\['horse'\] are not among them"):
        check_command_vocabulary(TINY_EXCEL_TRAIN, None, 'red square, horse')
    done = _run_light(
        'import sys\n'
        'from ovperception.utils.closed_vocabulary import configured_head_classes\n'
        f'print(len(configured_head_classes({FULL_EXCEL!r})), '
        f'configured_head_classes({TINY_EXCEL_TRAIN!r})[1])\n'
        'print("torch" in sys.modules, "ovperception.models" in sys.modules)')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['21', 'red', 'square', 'False', 'False']


def _run_script_light(script: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``script`` run as a command in a fresh interpreter; prints whether torch got imported
    and the exit status."""
    return _run_light(
        'import runpy, sys\n'
        f'sys.argv = [{script!r}] + {argv!r}\n'
        'try:\n'
        f'    runpy.run_path({script!r}, run_name="__main__")\n'
        'except SystemExit as stop:\n'
        '    print("torch" in sys.modules, stop.code)\n')


@pytest.mark.parametrize('script', ['demo/image_demo.py', 'tools/annotate.py'])
def test_commands_refuse_other_classes_before_torch_and_the_model(script):
    done = _run_script_light(script, [
        'in.png', '--vocab', 'red square, horse', '--config', TINY_EXCEL_TRAIN,
        '--weights', MISSING_WEIGHTS, '--out', '/nonexistent/o'])
    assert done.stdout.split() == ['False', '1'], done.stderr  # exit 1, torch never imported
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "['horse'] are not among them" in lines[0]
    assert 'red square' in lines[0] and 'nonexistent' not in lines[0]


def test_demo_checks_the_classes_its_cfg_options_give():
    with pytest.raises(ValueError, match='knows only'):
        demo.main(['in.png', '--vocab', 'red square', '--config', TINY_EXCEL_TRAIN,
                   '--weights', MISSING_WEIGHTS, '--out', '/nonexistent/o', '--cfg-options',
                   "model.head_classes=['bg','cat','dog','cow']"])


def test_demo_without_vocab_segments_the_trained_classes(weights, image, tmp_path, capsys):
    out = tmp_path / 'demo'
    assert demo.main([image, '--config', TINY_EXCEL_TRAIN, '--weights', weights,
                      '--out', str(out)]) == 0
    assert f'segmenting the 4 classes seg_tiny_excel_train.py was trained on: ' \
           f'{", ".join(TINY_CLASSES)}' in capsys.readouterr().err
    labels = np.asarray(Image.open(out / 'img_labels.png'))
    assert labels.shape == (40, 52) and set(np.unique(labels)) <= {1, 2, 3, 4}
    record = json.loads((out / 'img.json').read_text())
    assert TINY_CLASSES[1] in json.dumps(record)


def test_demo_help_says_when_vocab_may_be_left_out(capsys):
    with pytest.raises(SystemExit):
        demo.parse_args(['--help'])
    assert 'closed-vocabulary config' in ' '.join(capsys.readouterr().out.split())


def _no_model(*args, **kwargs):
    raise AssertionError('a model was built before the vocabulary was checked')


def test_annotate_refuses_vocab_and_tags_outside_the_trained_classes(image, tmp_path,
                                                                      monkeypatch):
    import ovperception.annotation.run as annotation_run
    monkeypatch.setattr(annotation_run, 'build_predictor', _no_model)
    monkeypatch.setattr(annotation_run, 'NameChooser', _no_model)
    folder = os.path.dirname(image)
    with pytest.raises(ValueError, match=r"knows only .*\['cow'\]") as caught:
        annotate.main([folder, '--vocab', 'red square, cow', '--out', str(tmp_path / 'a'),
                       '--config', TINY_EXCEL_TRAIN, '--device', 'cpu'])
    assert '\n' not in str(caught.value)
    tags = tmp_path / 'tags.json'
    tags.write_text(json.dumps({'img.png': ['red square', 'horse']}))
    with pytest.raises(ValueError, match=r"--tags-from .*knows only .*\['horse'\]"):
        annotate.main([folder, '--tags-from', str(tags), '--out', str(tmp_path / 'b'),
                       '--config', TINY_EXCEL_TRAIN, '--device', 'cpu'])
    assert not os.path.exists(tmp_path / 'b' / 'summary.json')


def test_annotate_without_vocab_uses_the_trained_classes(weights, image, tmp_path):
    out = tmp_path / 'annotated'
    assert annotate.main([os.path.dirname(image), '--out', str(out), '--config',
                          TINY_EXCEL_TRAIN, '--weights', weights, '--device', 'cpu',
                          '--format', 'coco', '--no-progress']) == 0
    coco = json.loads((out / 'coco' / 'annotations.json').read_text())
    assert [c['name'] for c in coco['categories']] == TINY_CLASSES


def test_web_app_uses_and_checks_the_trained_classes(weights, tmp_path):
    from ovperception.webapp import AnnotationService, AppSession, UserError
    from ovperception.webapp.tasks import default_configs
    service = AnnotationService(default_configs(TINY_EXCEL_TRAIN), weights=weights)
    assert ', '.join(TINY_CLASSES) in service.vocabulary_hint('semantic', TINY_EXCEL_TRAIN)
    tiny = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')
    assert 'grey striped' not in service.vocabulary_hint('semantic', tiny)
    from ovperception.webapp.ui import build_app
    box = next(b for b in build_app(service).blocks.values()
               if getattr(b, 'elem_id', None) == 'vocabulary')
    assert box.placeholder.startswith('empty: all the trained classes (grey striped background')
    session = AppSession.create(str(tmp_path))
    try:
        with pytest.raises(UserError, match=r"knows only .*\['horse'\]") as caught:
            service.run(session, 'demo/examples/shapes.png', 'red square, horse', 'semantic')
        assert '\n' not in str(caught.value) and not service._models  # nothing built
        result = service.run(session, 'demo/examples/shapes.png', '', 'semantic')
        assert '4 class(es)' in result.message
        assert service.fixed_vocabulary(TINY_EXCEL_TRAIN) == TINY_CLASSES  # from the model now
        result = service.run(session, 'demo/examples/shapes.png', 'Red Square', 'semantic')
        assert '1 class(es)' in result.message and 'features reused' in result.message
    finally:
        session.close()


def test_benchmark_uses_the_trained_classes(weights):
    from ovperception.apis import init_model
    from ovperception.benchmarking import run_benchmark
    from torch import nn

    from ovperception.benchmarking.runner import benchmark_vocabulary, synthetic_vocabulary
    assert benchmark_vocabulary(nn.Identity(), 3) == synthetic_vocabulary(3)  # open vocabulary
    model = init_model(TINY_EXCEL_TRAIN, weights, 'cpu')
    assert model.fixed_vocabulary == TINY_CLASSES
    assert benchmark_vocabulary(model, 2) == TINY_CLASSES[:2]
    measured = run_benchmark(model, [(48, 64)], [2, 150, 300], num_images=1, warmup=0)
    assert [r['vocab_size'] for r in measured['results']] == [2, 4]  # 150, 300: all 4, once
    assert [t['vocab_size'] for t in measured['text']] == [2, 4]
    assert all(r['throughput_img_s'] > 0 for r in measured['results'])
