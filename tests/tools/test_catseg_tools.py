"""CAT-Seg's tiny config through tools/test.py, the demo, tools/annotate.py, the web app's
service and OVPredictor (one encoded image, several vocabularies); its input checks."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from ovperception.apis import OVPredictor, init_model
from ovperception.registry import MODELS
from ovperception.webapp import AnnotationService, AppSession
from ovperception.webapp.tasks import configs_for_task, default_configs
from tests.scripts import ROOT, demo, load_script, test_tool

annotate = load_script('tools/annotate.py')
TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny_catseg.py')


@pytest.fixture
def image(tmp_path) -> str:
    path = tmp_path / 'in' / 'img.png'
    path.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 93, 3), dtype=np.uint8)
                    ).save(path)
    return str(path)


def test_test_tool_demo_and_annotate_run_the_tiny_config(tmp_path, image, one_thread):
    metrics = test_tool.main([TINY, '--work-dir', str(tmp_path / 'test')])
    assert 0.0 <= metrics['mIoU'] <= 100.0
    assert demo.main([image, '--vocab', 'cat, dog; puppy, grass', '--config', TINY,
                      '--out', str(tmp_path / 'demo')]) == 0
    labels = np.asarray(Image.open(tmp_path / 'demo' / 'img_labels.png'))
    assert labels.shape == (70, 93) and 1 <= labels.min() and labels.max() <= 3
    out = tmp_path / 'annotated'
    assert annotate.main([os.path.dirname(image), '--vocab', 'cat, dog; puppy', '--out',
                          str(out), '--config', TINY, '--device', 'cpu', '--format', 'coco',
                          '--min-area', '1', '--no-progress']) == 0
    coco = json.loads((out / 'coco' / 'annotations.json').read_text())
    assert [c['name'] for c in coco['categories']] == ['cat', 'dog']


def test_the_web_app_lists_and_runs_catseg(tmp_path, one_thread):
    assert 'tiny/seg_tiny_catseg.py' in configs_for_task('semantic')
    assert 'segmentation/catseg_vitl14_ade20k_640.py' in configs_for_task('semantic')
    service = AnnotationService(default_configs(TINY))
    session = AppSession.create(str(tmp_path))
    try:
        first = service.run(session, 'demo/examples/shapes.png', 'red square, green circle',
                            'semantic')
        second = service.run(session, 'demo/examples/shapes.png', 'blue triangle', 'semantic')
        assert first.rows and os.path.isfile(first.overlay)
        assert session.encode_count == 1 and 'reused' in second.message
    finally:
        session.close()


def test_predictor_encodes_once_and_memoises_each_vocabulary(one_thread):
    torch.manual_seed(0)
    model = init_model(Config.fromfile(TINY), None, device='cpu')
    predictor = OVPredictor(model)
    predictor.set_image(np.zeros((50, 70, 3), dtype=np.uint8))
    first = predictor.predict('cat, dog')
    assert first.pred_sem_seg.data.shape == (1, 50, 70)
    assert first.seg_logits.data.shape == (2, 50, 70)
    assert len(model._text_memo) == 2
    # class aggregation attends across classes: reordering permutes the scores (nothing
    # re-encoded); a new class is one new prompt
    reordered = predictor.predict('dog, cat')
    assert len(model._text_memo) == 2
    torch.testing.assert_close(reordered.seg_logits.data.flip(0), first.seg_logits.data)
    predictor.predict('dog, cat, bird')
    assert len(model._text_memo) == 3
    with pytest.raises(ValueError, match='duplicate|more than one|once'):
        predictor.predict('cat, cat')


def test_bad_configurations_are_one_line_errors():
    cfg = Config.fromfile(TINY).model
    with pytest.raises(ValueError, match='do not tile'):
        MODELS.build(dict(cfg, test_cfg=dict(kernel=64, overlap=0.333, out_size=(96, 96))))
    with pytest.raises(ValueError, match='unknown test_cfg'):
        MODELS.build(dict(cfg, test_cfg=dict(stride=3)))
    with pytest.raises(ValueError, match='guidance_layers'):
        MODELS.build(dict(cfg, guidance_layers=(0, 2)))
    with pytest.raises(ValueError, match='clip_finetune'):
        MODELS.build(dict(cfg, clip_finetune='prompt'))


def test_every_synonym_as_a_class_scores_its_class_by_the_max(one_thread):
    """``synonyms='all'`` (PAS-20b): the names are classes of the aggregation; a class's
    probability is the max over its names."""
    torch.manual_seed(0)
    cfg = Config.fromfile(TINY).model
    model = init_model(Config(dict(model=dict(cfg, synonyms='all'))), None, device='cpu')
    predictor = OVPredictor(model)
    predictor.set_image(np.random.default_rng(1).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    merged = predictor.predict(['cat; kitten', 'dog'])
    separate = predictor.predict(['cat', 'kitten', 'dog'])
    probs = separate.seg_logits.data
    torch.testing.assert_close(merged.seg_logits.data[0], probs[:2].max(0).values)
    torch.testing.assert_close(merged.seg_logits.data[1], probs[2])
    with pytest.raises(ValueError, match='synonyms'):
        MODELS.build(dict(cfg, synonyms='some'))
