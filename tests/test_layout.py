"""The package layout: one home per task, no upward imports from models/, old paths still work."""
from __future__ import annotations

import ast
import importlib
import pathlib
import sys
import warnings

import pytest

from ovperception.registry import MODELS

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'ovperception'
UPWARD = ('ovperception.datasets', 'ovperception.evaluation', 'ovperception.engine',
          'ovperception.apis', 'ovperception.writers', 'ovperception.visualization')


def _imported_modules(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding='utf-8'))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_models_import_nothing_from_the_layers_above():
    offenders = [f'{path.relative_to(PACKAGE)}: {name}'
                 for path in sorted((PACKAGE / 'models').rglob('*.py'))
                 for name in _imported_modules(path) if name.startswith(UPWARD)]
    assert offenders == []


@pytest.mark.parametrize('package, names', [
    ('segmentation', ['DenseSimilarityHead', 'AdaptedSimilarityHead', 'SaliencyFilteredHead',
                      'TridentHead']),
    ('panoptic', ['FCCLIP', 'FPNPixelDecoder', 'MaskTransformerDecoder', 'MaskSetCriterion',
                  'ContentDependentTransfer']),
    ('detection', ['OVDetectionHead', 'ConnectedComponentProposals', 'LearnedProposals',
                   'SAMProposals']),
    ('counting', ['BlockwiseCountingHead', 'ZeroShotCountingHead']),
    ('anomaly', ['OVAnomalyModel', 'WinCLIPHead', 'AnomalyCLIPHead', 'AdaCLIPHead']),
])
def test_each_task_package_holds_its_components_under_unchanged_registry_names(package, names):
    module = importlib.import_module(f'ovperception.models.{package}')
    for name in names:
        cls = getattr(module, name)
        assert cls.__module__.startswith(f'ovperception.models.{package}.')
        assert MODELS.get(name) is cls
        assert MODELS.get(f'ovperception.{name}') is cls


@pytest.mark.parametrize('old, name, new', [
    ('ovperception.models.heads', 'DenseSimilarityHead', 'ovperception.models.segmentation'),
    ('ovperception.models.segmentors', 'FCCLIP', 'ovperception.models.panoptic'),
    ('ovperception.models.losses', 'MaskSetCriterion', 'ovperception.models.panoptic'),
    ('ovperception.anomaly_api', 'calibrate_threshold', 'ovperception.apis'),
    ('ovperception.runner_utils', 'load_config', 'ovperception.engine.runner_cli'),
])
def test_old_import_paths_still_work_and_warn(old, name, new):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        module = importlib.import_module(old)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)
    assert any(issubclass(w.category, DeprecationWarning) and 'deprecated' in str(w.message)
               for w in caught)


def test_apis_is_a_package_with_the_predictor_and_anomaly_helpers():
    import ovperception.apis as apis
    assert pathlib.Path(apis.__file__).name == '__init__.py'
    for name in ('init_model', 'OVPredictor', 'find_images', 'predict_images',
                 'build_anomaly_predictor', 'calibrate_threshold', 'is_anomaly_config'):
        assert callable(getattr(apis, name))
