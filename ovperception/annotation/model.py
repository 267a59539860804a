"""Which task a config performs, the default config of each task, and the predictor."""
from __future__ import annotations

import copy
import os
from typing import Sequence

from mmengine.config import Config

from ovperception.annotation.predictions import TASKS
from ovperception.apis import OVPredictor, build_anomaly_predictor, init_model
from ovperception.apis.anomaly import is_anomaly_config
from ovperception.apis.options import applicable_options, type_name

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: The config used when ``--config`` is not given (relative to the repository root).
DEFAULT_CONFIGS = {
    'seg': 'configs/segmentation/sclip_vitb16_ade20k_336.py',
    'det': 'configs/detection/ovdet_cc_vitb16_ov_coco.py',
    'panoptic': 'configs/segmentation/fcclip_convnext_large_ade20k_panoptic_800.py',
    'count': 'configs/counting/pseco_zeroshot_vitb16_fsc147.py',
    'anomaly': 'configs/anomaly/winclip_vitb16plus_mvtec.py',
}


def config_tasks(cfg: Config) -> tuple[str, ...]:
    """The tasks a config's model can annotate, its natural task first."""
    model = type_name(cfg.model.get('type'))
    head = type_name((cfg.model.get('head') or {}).get('type'))
    if is_anomaly_config(cfg):
        return ('anomaly',)
    if model == 'FCCLIP':
        return ('panoptic', 'seg', 'det')
    if head == 'OVDetectionHead' or model == 'FViT':
        return ('det',)
    if head in ('BlockwiseCountingHead', 'ZeroShotCountingHead') or model == 'CountCLIP':
        return ('count',)
    return ('seg',)


def resolve_config(config: str | None, task: str | None) -> tuple[str, str, Config]:
    """``(config path, task, parsed config)`` from the user's ``--config`` / ``--task``
    (either may be None). The config is parsed here once; the caller passes it on.

    Raises:
        FileNotFoundError: the config does not exist.
        ValueError: the task is unknown or the config cannot perform it.
    """
    if task is not None and task not in TASKS:
        raise ValueError(f'unknown --task {task!r}; choose one of {", ".join(TASKS)}')
    if config is None:
        config = os.path.join(_REPO, DEFAULT_CONFIGS[task or 'seg'])
    if not os.path.isfile(config):
        raise FileNotFoundError(f'config file {config!r} does not exist')
    cfg = Config.fromfile(config)
    tasks = config_tasks(cfg)
    if task is None:
        return config, tasks[0], cfg
    if task not in tasks:
        raise ValueError(f'--task {task} does not fit {config}: its model annotates '
                         f'{", ".join(tasks)}')
    return config, task, cfg


def takes_score_threshold(cfg: Config, task: str) -> bool:
    """Whether ``--score-thr`` changes what ``cfg`` annotates for ``task``: a detection
    or counting head with a ``score_threshold`` (OVDetectionHead always has one)."""
    head = cfg.model.get('head') or {}
    return task in ('det', 'count') and (
        type_name(head.get('type')) == 'OVDetectionHead' or 'score_threshold' in head)


def build_predictor(cfg: Config, task: str, weights: str | None, device: str,
                    vocabulary: Sequence[str], score_threshold: float | None = None,
                    anomaly_threshold: float | None = None,
                    cfg_options: dict | None = None) -> OVPredictor:
    """The predictor of the parsed config ``cfg`` (left unchanged: the model is built from
    a copy) set up for annotation with a user vocabulary.

    Segmentation heads trained on a dataset keep no dataset background class or area rule
    (``background_index=None``, ``area_threshold=0``), as in the demo; detection's
    ``score_threshold`` is replaced when given.
    """
    options = dict(cfg_options or {})
    if task == 'anomaly':
        return build_anomaly_predictor(copy.deepcopy(cfg), weights, device, list(vocabulary),
                                       anomaly_threshold, cfg_options=options)
    head = cfg.model.get('head') or {}
    if task == 'seg':
        for key, value in (('background_index', None), ('area_threshold', 0.0)):
            if key in head:
                options.setdefault(f'model.head.{key}', value)
        # label maps as small integers (uint8 up to 255 classes): bounded memory on huge images
        options = dict(applicable_options(cfg, {'model.head.compact_labels': True}, {}),
                       **options)
    if score_threshold is not None and takes_score_threshold(cfg, task):
        options['model.head.score_threshold'] = score_threshold
    return OVPredictor(init_model(copy.deepcopy(cfg), weights, device, cfg_options=options))
