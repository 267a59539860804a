"""Every config survives mmengine's dump and reload unchanged.

The runner writes the config it ran into its work dir (``Config.dump``), and users rerun or
share that file (``tools/test.py work_dirs/X/X.py``). mmengine writes a lazily imported name as
the string ``'module.Name'``: right for a class or function (its registries import such a
path), wrong for an imported constant, whose dump would name it instead of holding its value.
Configs therefore write constants out; the values written are checked against the library's
constants here so that they cannot drift.
"""
from __future__ import annotations

import glob
import inspect
import os
from typing import Any

import pytest
from mmengine.config import Config
from mmengine.config.lazy import LazyAttr, LazyObject
from mmengine.utils import get_object_from_string

from ovperception.models.anomaly import ADACLIP_RELEASED_LAYERS, ANOMALYCLIP_RELEASED_LAYERS
from ovperception.models.anomaly.prompts import ANOVL_ANOMALOUS_STATES, ANOVL_NORMAL_STATES
from ovperception.models.data_preprocessor import IMAGENET_MEAN, IMAGENET_STD
from ovperception.models.refiners.proxyclip import PROXYCLIP_MEAN, PROXYCLIP_STD
from ovperception.models.segmentation.excel import COCO_BACKGROUND_WORDS, COCO_PROMPT_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, 'configs')
RUNNABLE_CONFIGS = sorted(
    path for path in glob.glob(os.path.join(CONFIGS, '**', '*.py'), recursive=True)
    if '_base_' not in os.path.relpath(path, CONFIGS).split(os.sep))


def _is_importable_object(value: Any) -> bool:
    """A class or function: mmengine dumps it as its import path, which its registries (and
    :func:`get_object_from_string`) turn back into the same object."""
    return inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value)


def _differences(original: Any, reloaded: Any, where: str) -> list[str]:
    """Where ``reloaded`` (the reloaded dump) does not hold what ``original`` holds.

    ``original`` is read through :class:`ConfigDict` item access, which imports lazy names;
    a class or function must come back as a string naming that same object, anything else
    as an equal value of the same type.
    """
    if isinstance(original, (LazyAttr, LazyObject)):  # inside a list or tuple
        original = original.build()
    if isinstance(original, dict):
        if not isinstance(reloaded, dict) or set(original) != set(reloaded):
            return [f'{where}: keys {sorted(map(str, original))} came back as '
                    f'{reloaded!r:.200}']
        return [line for key in original
                for line in _differences(original[key], reloaded[key], f'{where}.{key}')]
    if isinstance(original, (list, tuple)):
        if type(reloaded) is not type(original) or len(reloaded) != len(original):
            return [f'{where}: {original!r:.200} came back as {reloaded!r:.200}']
        return [line for index, (a, b) in enumerate(zip(original, reloaded))
                for line in _differences(a, b, f'{where}[{index}]')]
    if _is_importable_object(original):
        if isinstance(reloaded, str) and get_object_from_string(reloaded) is original:
            return []
        return [f'{where}: {original!r} came back as {reloaded!r}']
    if type(reloaded) is not type(original) or reloaded != original:
        return [f'{where}: {original!r:.200} came back as {reloaded!r:.200}']
    return []


@pytest.mark.parametrize('path', RUNNABLE_CONFIGS,
                         ids=lambda path: os.path.relpath(path, CONFIGS))
def test_config_dumped_and_reloaded_is_the_same_config(path: str, tmp_path) -> None:
    cfg = Config.fromfile(path)
    dumped = tmp_path / os.path.basename(path)
    cfg.dump(str(dumped))  # what Runner.dump_config writes into the work dir
    reloaded = Config.fromfile(str(dumped))
    differences = [line for key in cfg.to_dict()  # to_dict leaves out the imported names
                   for line in _differences(cfg[key], reloaded[key], key)]
    assert set(reloaded.to_dict()) == set(cfg.to_dict())
    assert not differences, '\n'.join(differences)


def test_there_are_configs_to_round_trip() -> None:
    assert len(RUNNABLE_CONFIGS) > 200
    assert not any('_base_' in path for path in RUNNABLE_CONFIGS)


#: (base config, key path, the library constant its written-out value must equal)
WRITTEN_OUT_CONSTANTS = [
    *[(f'_base_/models/{method}_vitb16.py', f'model.data_preprocessor.{stat}', constant)
      for method in ('proxyclip', 'resclip', 'scclip', 'corrclip', 'trident', 'cass')
      for stat, constant in (('mean', PROXYCLIP_MEAN), ('std', PROXYCLIP_STD))],
    ('_base_/models/adaclip_vitl14_336.py', 'model.head.feature_layers',
     ADACLIP_RELEASED_LAYERS),
    ('_base_/models/anomalyclip_vitl14_336.py', 'model.head.feature_layers',
     ANOMALYCLIP_RELEASED_LAYERS),
    ('_base_/models/anovl_vitb16plus.py', 'model.head.normal_states', ANOVL_NORMAL_STATES),
    ('_base_/models/anovl_vitb16plus.py', 'model.head.anomalous_states',
     ANOVL_ANOMALOUS_STATES),
    *[(config, f'model.data_preprocessor.{stat}', constant)
      for config in ('_base_/models/excel_vitb16.py', '_base_/models/anomalydino_vits14.py',
                     'tiny/seg_tiny_excel.py', 'tiny/seg_tiny_excel_train.py')
      for stat, constant in (('mean', IMAGENET_MEAN), ('std', IMAGENET_STD))],
    ('_base_/models/excel_coco_text.py', 'excel_coco_text.excel_background_words',
     COCO_BACKGROUND_WORDS),
    ('_base_/models/excel_coco_text.py', 'excel_coco_text.prompt_names', COCO_PROMPT_NAMES),
]


@pytest.mark.parametrize('config, key, constant', WRITTEN_OUT_CONSTANTS,
                         ids=[f'{c}:{k}' for c, k, _ in WRITTEN_OUT_CONSTANTS])
def test_written_out_constant_equals_the_library_constant(config: str, key: str,
                                                          constant: tuple) -> None:
    value = Config.fromfile(os.path.join(CONFIGS, config))
    for part in key.split('.'):
        value = value[part]
    if isinstance(constant, dict):  # a config holds a ConfigDict
        value = value.to_dict()
    assert type(value) is type(constant) and value == constant
