"""Helpers shared by ``tools/train.py``, ``tools/test.py`` and the demo."""
from __future__ import annotations

import itertools
import os
import os.path as osp
from typing import Any

from mmengine.config import Config

import ovperception.engine  # noqa: F401  (registers hooks)
from ovperception.engine.config_keys import UnknownConfigKeyError, check_option_keys
from ovperception.utils.cli import (INTERRUPTED_EXIT_STATUS, add_runner_arguments,  # noqa: F401
                                    parse_runner_arguments, parse_size, run_cli)

__all__ = ['INTERRUPTED_EXIT_STATUS', 'UnknownConfigKeyError', 'check_output_dir', 'load_config', 'prepare_output_dir', 'run_cli',
           'add_runner_arguments', 'parse_runner_arguments']


_RUNS_IN_THIS_PROCESS = itertools.count()


def load_config(path: str, cfg_options: dict[str, Any] | None = None,
                work_dir: str | None = None) -> Config:
    """Read a config file, apply ``--cfg-options`` and set ``work_dir``.

    Unknown ``--cfg-options`` keys (top level, or a keyword a component does not take)
    are rejected before anything is built, so that a typo does not silently do nothing.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        check_option_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    check_output_dir(cfg.work_dir, '--work-dir')  # the runner creates it
    run_index = next(_RUNS_IN_THIS_PROCESS)
    if run_index and cfg.get('experiment_name') is None:
        # mmengine names a runner's logger '<config>_<timestamp (seconds)>' and reuses an
        # existing logger of that name: a second run of the same config in the same second
        # (a sweep, a notebook, tests) would log into the first run's file.
        cfg.experiment_name = f'{osp.splitext(osp.basename(path))[0]}_run{run_index}'
    return cfg


def check_output_dir(path: str, flag: str = '--out') -> str:
    """Check, without creating anything, that folder ``path`` can be created or written.

    Raises:
        NotADirectoryError: ``path`` (or a parent) is an existing file.
        PermissionError: the folder (or its nearest existing parent) is not writable.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise NotADirectoryError(f'{flag} {path!r} is an existing file, not a folder; '
                                 'name a folder')
    existing = osp.abspath(path)
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        raise NotADirectoryError(f'{flag} {path!r}: a parent of it is a file, not a folder')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f'{flag} {path!r} is not writable; choose a folder you can write')
    return path


def prepare_output_dir(path: str, flag: str = '--out') -> str:
    """Create the output folder ``path``; a one-line ``OSError`` when it cannot hold outputs.

    Raises:
        NotADirectoryError: ``path`` (or a parent) is an existing file.
        PermissionError: the folder cannot be created or written.
    """
    if osp.exists(path) and not osp.isdir(path):
        raise NotADirectoryError(f'{flag} {path!r} is an existing file, not a folder; '
                                 'name a folder')
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f'{flag} {path!r}: a parent of it is a file, not a '
                                 'folder') from None
    except PermissionError:
        raise PermissionError(f'{flag} {path!r} cannot be created (permission denied); '
                              'choose a folder you can write') from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f'{flag} {path!r} is not writable; choose a folder you can write')
    return path
