"""Every model component registered by ovperception has a tiny entry and builds."""
from __future__ import annotations

import pytest
from mmengine.registry import init_default_scope

import ovperception.models  # noqa: F401  (registration)
from ovperception.registry import MODELS
from tests.tiny import TINY


def test_every_registered_model_has_a_tiny_entry():
    missing = sorted(set(MODELS.module_dict) - set(TINY))
    assert not missing, f'add tiny constructor arguments to tests/tiny.py for {missing}'


@pytest.mark.parametrize('name', sorted(TINY))
def test_component_builds(name):
    init_default_scope('ovperception')
    module = MODELS.build(dict(TINY[name]))
    assert type(module).__name__ == name
