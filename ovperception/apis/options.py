"""Config overrides for running a model on a user's own vocabulary (demo, web app).

A benchmark config carries its dataset's protocol (background words, a background class
index, SCLIP's area threshold ...); on a user's vocabulary those must not apply. These helpers
turn the user's choices into ``cfg_options`` and drop the keys a config's model or head does
not take (segmentation options on counting heads or FC-CLIP), so one set of options serves
every config.
"""
from __future__ import annotations

from typing import Sequence

from mmengine.config import Config

from ovperception.engine.config_keys import component_parameters


def type_name(kind: object) -> str:
    """Bare class name of a config ``type=`` (a class, or a possibly scoped string)."""
    name = kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))
    return name.split('.')[-1]


def applicable_options(config: str | Config, options: dict, explicit: dict) -> dict:
    """``options`` without the ``model.*`` / ``model.head.*`` keys the config's model or head
    does not take; keys the user gave with ``--cfg-options`` (``explicit``) are always kept,
    so typos still fail loudly."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    model_cfg = cfg.model
    model_parameters = component_parameters(model_cfg.type)
    head_cfg = model_cfg.get('head')
    head_parameters = component_parameters(head_cfg.type) if head_cfg else set()
    kept = {}
    for key, value in options.items():
        parts = key.split('.')
        if key in explicit or parts[0] != 'model' or len(parts) < 2:
            kept[key] = value
            continue
        accepted, name = ((head_parameters, parts[2]) if parts[1] == 'head' and len(parts) > 2
                          else (model_parameters, parts[1]))
        if accepted is None or name in accepted:
            kept[key] = value
    return kept


def is_detection_config(config: str | Config) -> bool:
    """Whether ``config``'s head is the open-vocabulary detection head."""
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    return type_name((cfg.model.get('head') or {}).get('type')) == 'OVDetectionHead'


def detection_options(background: Sequence[str], score_threshold: float | None) -> dict:
    """Overrides of a detection config: the score threshold; background words if given
    (otherwise the config's scene words stay, BIRDet's background modelling)."""
    options: dict = {}
    if background:
        options['model.background_words'] = list(background)
    if score_threshold is not None:
        options['model.head.score_threshold'] = score_threshold
    return options


def segmentation_options(background: Sequence[str], prob_threshold: float | None = None,
                         template_set: str | None = None) -> dict:
    """Overrides of a segmentation config for a user's vocabulary: the user's background words
    only, no background class index, no area threshold, label maps as small integers
    (``compact_labels``: uint8 for up to 255 classes, what the writers store; bounded memory
    on huge images); optional probability threshold and template set."""
    options: dict = {'model.background_words': list(background),
                     'model.head.background_index': None,
                     'model.head.area_threshold': 0.0,
                     'model.head.compact_labels': True}
    if prob_threshold is not None:
        options['model.head.prob_threshold'] = prob_threshold
    if template_set:
        options['model.template_set'] = template_set
    return options
