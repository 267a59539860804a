from __future__ import annotations

import os

import numpy as np
import pytest

from ovperception.apis import OVPredictor, find_images, init_model
from ovperception.models.clip.vocabulary import VocabularyError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_TEST = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')


@pytest.fixture(scope='module')
def predictor():
    return OVPredictor(init_model(TINY_TEST))


def test_predictor_encodes_once_and_answers_many_vocabularies(predictor, monkeypatch):
    calls = []
    original = predictor.model.backbone.dense_features
    monkeypatch.setattr(predictor.model.backbone, 'dense_features',
                        lambda x: calls.append(x.shape) or original(x))
    image = np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    predictor.set_image(image)
    encoder_calls = len(calls)
    first = predictor.predict('cat, dog')
    second = predictor.predict(['sky; clouds', 'road', 'tree'])
    assert len(calls) == encoder_calls > 0, 'the backbone must not run again per vocabulary'
    assert first.pred_sem_seg.data.shape == (1, 50, 70)
    assert second.metainfo['label_names'] == ['sky', 'road', 'tree']
    assert int(second.pred_sem_seg.data.max()) < 3


def test_predictor_input_checks(predictor):
    fresh = OVPredictor(predictor.model)
    with pytest.raises(RuntimeError, match='set_image'):
        fresh.predict(['a'])
    with pytest.raises(ValueError, match='uint8'):
        fresh.set_image(np.zeros((4, 4), dtype=np.float32))
    fresh.set_image(np.zeros((20, 20, 3), dtype=np.uint8))
    with pytest.raises(VocabularyError):
        fresh.predict([])


def test_find_images(tmp_path):
    (tmp_path / 'b.png').write_bytes(b'')
    (tmp_path / 'a.JPG').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('x')
    assert [os.path.basename(p) for p in find_images(str(tmp_path))] == ['a.JPG', 'b.png']
    with pytest.raises(FileNotFoundError):
        find_images(str(tmp_path / 'missing'))
