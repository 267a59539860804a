"""Helpers shared by ``tools/train.py``, ``tools/test.py`` and the demo."""
from __future__ import annotations

import os
import os.path as osp
from typing import Any

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported)

import ovperception.engine  # noqa: F401  (registers hooks)


def load_config(path: str, cfg_options: dict[str, Any] | None = None,
                work_dir: str | None = None) -> Config:
    """Read a config file, apply ``--cfg-options`` and set ``work_dir``.

    Unknown top-level ``--cfg-options`` keys are rejected, so that a typo does
    not silently do nothing.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        unknown = sorted({key.split('.')[0] for key in cfg_options} - set(cfg.keys()))
        if unknown:
            raise KeyError(f'--cfg-options names unknown top-level keys {unknown}; '
                           f'the config has {sorted(cfg.keys())}')
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    os.makedirs(cfg.work_dir, exist_ok=True)
    return cfg
