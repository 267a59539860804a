"""The demo applies only the options a config's model/head takes (FC-CLIP, counting)."""
from __future__ import annotations

import json
import os

import pytest

from tests.scripts import ROOT, demo

FCCLIP_TINY = os.path.join(ROOT, 'configs', 'tiny', 'fcclip_tiny.py')
SEG_TINY = os.path.join(ROOT, 'configs', 'tiny', 'seg_tiny.py')


def test_options_a_model_does_not_take_are_dropped_unless_explicit():
    options = {'model.background_words': ['sky'], 'model.template_set': 'single',
               'model.head.area_threshold': 0.0, 'test_cfg.x': 1}
    kept = demo.applicable_options(FCCLIP_TINY, options, explicit={})
    assert kept == {'model.template_set': 'single', 'test_cfg.x': 1}
    explicit = {'model.background_words': ['sky']}
    assert 'model.background_words' in demo.applicable_options(FCCLIP_TINY, options, explicit)
    assert demo.applicable_options(SEG_TINY, options, explicit={}) == options


def test_demo_runs_fcclip_and_writes_panoptic_and_semantic_outputs(tmp_path):
    out = tmp_path / 'out'
    image = os.path.join(ROOT, 'demo', 'examples', 'shapes.png')
    assert demo.main([image, '--vocab', 'red square, green circle', '--config', FCCLIP_TINY,
                      '--out', str(out)]) == 0
    names = sorted(os.listdir(out))
    assert {'shapes_panoptic.json', 'shapes_panoptic.png', 'shapes_overlay.png',
            'shapes.json'} <= set(names)
    segments = json.loads((out / 'shapes_panoptic.json').read_text())
    assert isinstance(segments, (dict, list))


def test_typo_in_explicit_cfg_options_still_fails(tmp_path):
    image = os.path.join(ROOT, 'demo', 'examples', 'shapes.png')
    with pytest.raises((KeyError, SystemExit, TypeError, ValueError)):
        demo.main([image, '--vocab', 'a, b', '--config', FCCLIP_TINY, '--out',
                   str(tmp_path), '--cfg-options', 'model.no_such_key=1'])
