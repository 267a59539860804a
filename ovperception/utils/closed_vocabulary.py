"""Closed vocabularies: the classes a trained segmentation head knows (a model config with
``seg_head`` and ``head_classes``, e.g. a trained ExCEL), read from the config without torch or
the models, and the check that a vocabulary stays within them.

Commands call :func:`configured_head_classes` right after parsing their arguments: a class
outside the head's is a one-line error before anything heavy is imported, and a command
given no vocabulary uses the head's classes. Code that already has a model asks it
(``model.fixed_vocabulary``, None for open-vocabulary models).
"""
from __future__ import annotations

import copy
import os
from typing import Any, Mapping, Sequence

from ovperception.utils.classname_files import classname_entries, read_classname_entries


def split_vocabulary_string(text: str, separator: str = ',') -> list[str]:
    """The class entries of a command-line vocabulary such as ``"cat, dog; puppy, grass"``
    (classes separated by ``separator``, synonyms by ``';'``); empty entries dropped."""
    return [entry for entry in (part.strip() for part in text.split(separator)) if entry]


def read_config(config: str, cfg_options: Mapping | None = None) -> Any:
    """``config`` parsed with ``cfg_options`` merged, its imports left unresolved
    (mmengine's lazy import: no torch, no models) where the config allows it; a config that
    computes values from what it imports is read the ordinary way."""
    from mmengine.config import Config
    try:
        cfg = Config.fromfile(config, lazy_import=True)
    except (FileNotFoundError, SyntaxError):
        raise
    except Exception:  # noqa: BLE001 - e.g. values computed from imported objects
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


def head_classes_of(model_cfg: Mapping) -> list[str] | None:
    """The ``head_classes`` of a model config that has a ``seg_head`` (a class-name file
    name or path, or a list; background first), else None."""
    if model_cfg.get('seg_head') is None or model_cfg.get('head_classes') is None:
        return None
    classes = model_cfg['head_classes']
    if isinstance(classes, str):
        return read_classname_entries(classes)
    return classname_entries(str(name) for name in classes)


def configured_head_classes(config: Any, cfg_options: Mapping | None = None
                            ) -> list[str] | None:
    """The fixed vocabulary of ``config``'s model with ``cfg_options`` merged: its
    ``head_classes`` when it has a trained ``seg_head``, else None (open vocabulary).

    ``config``: a config path, read without importing torch or the models (see
    :func:`read_config`), or an already parsed mmengine ``Config`` (left unchanged).
    """
    if isinstance(config, (str, os.PathLike)):
        cfg = read_config(os.fspath(config), cfg_options)
    else:
        cfg = copy.deepcopy(config)
        cfg.merge_from_dict(dict(cfg_options or {}))
    return head_classes_of(cfg.get('model') or {})


def vocabulary_in_head(classnames: Sequence[str], head_classes: Sequence[str]) -> list[int]:
    """Index in ``head_classes`` of each vocabulary class (names compared case-insensitively,
    the first ``;`` synonym of each); a class outside them is a one-line ValueError."""
    lookup = {name.split(';')[0].strip().lower(): i for i, name in enumerate(head_classes)}
    names = [name.split(';')[0].strip().lower() for name in classnames]
    unknown = [name for name in names if name not in lookup]
    if unknown:
        raise ValueError(
            f'the trained ExCEL segmenter knows only {list(head_classes)}; {unknown} are not '
            'among them: use these classes (or leave the vocabulary out to use them all), or '
            'the training-free ExCEL config (configs/segmentation/'
            'excel_vitb16_voc_train_pseudo.py) for other vocabularies')
    return [lookup[name] for name in names]


def check_command_vocabulary(config: str, cfg_options: Mapping | None,
                             vocab: str | None) -> list[str] | None:
    """What a command checks right after parsing its arguments: the trained classes of a
    closed-vocabulary ``config`` (None for an open vocabulary), a ``vocab`` string naming a
    class outside them being a one-line ValueError -- before torch or a model is loaded."""
    head_classes = configured_head_classes(config, cfg_options)
    if head_classes is not None and vocab is not None:
        vocabulary_in_head(split_vocabulary_string(vocab), head_classes)
    return head_classes
