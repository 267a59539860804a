"""The web app with an empty vocabulary box: a vocabulary-free config chooses the names and the
message lists them with their scores; other configs still ask for names."""
from __future__ import annotations

import json
import os

import pytest

from ovperception.webapp import AnnotationService, AppSession, UserError
from ovperception.webapp.tasks import CONFIG_ROOT, configs_for_task, default_configs

SHAPES = 'demo/examples/shapes.png'
CASED_TINY = os.path.join(CONFIG_ROOT, 'tiny', 'seg_tiny_cased.py')


@pytest.fixture
def session(tmp_path):
    created = AppSession.create(str(tmp_path))
    yield created
    created.close()


def test_empty_vocabulary_lets_the_model_choose_the_names(session, tmp_path, monkeypatch):
    monkeypatch.setenv('OVP_CAPTION_INDEX_DIR', str(tmp_path / 'index'))
    assert 'tiny/seg_tiny_cased.py' in configs_for_task('semantic')
    service = AnnotationService(default_configs(os.path.join(CONFIG_ROOT, 'tiny', 'seg_tiny.py')))
    result = service.run(session, SHAPES, '', 'semantic', CASED_TINY)
    assert 'chosen by the model (' in result.message
    record = next(f for f in result.files if f.endswith('.json') and 'shapes' in f
                  and os.path.basename(f) == 'shapes.json')
    with open(record, encoding='utf-8') as handle:
        chosen = json.load(handle)['chosen_names']
    assert chosen and chosen[0]['name'] in result.message
    with pytest.raises(UserError, match='vocabulary-free config'):
        service.run(session, SHAPES, ' ', 'semantic')  # the default config needs names
