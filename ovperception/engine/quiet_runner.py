"""A Runner whose terminal shows warnings only; the full log still goes to the log file.

mmengine's Runner logs the environment, the whole config and the hook table at INFO: about
250 lines before a 4-image evaluation. ``tools/test.py`` and ``tools/train.py`` use
:class:`QuietRunner` unless ``--verbose`` is given; the log file in the work dir keeps
everything.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Iterator

from mmengine.logging import MMLogger
from mmengine.runner import Runner

from ovperception.engine.local_runner import LocalRunner


#: mmengine's run folder name: ``%Y%m%d_%H%M%S``.
TIMESTAMP_DIR = re.compile(r'^\d{8}_\d{6}$')


class QuietRunner(LocalRunner):
    """:class:`LocalRunner` whose console handler shows WARNING and above (the log file
    keeps INFO)."""

    def build_logger(self, *args, **kwargs) -> MMLogger:
        logger = super().build_logger(*args, **kwargs)
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:  # the console, not the FileHandler
                handler.setLevel(logging.WARNING)
        return logger


def runner_class(verbose: bool) -> type[Runner]:
    """:class:`LocalRunner` with ``--verbose``, else :class:`QuietRunner`."""
    return LocalRunner if verbose else QuietRunner


@contextlib.contextmanager
def _removed_on_failure(work_dir: str) -> Iterator[None]:
    """On an exception, remove what the runner created in ``work_dir`` (its
    ``<timestamp>/`` log folder, and ``work_dir`` itself if it did not exist): a run that
    fails while being built leaves no empty run folders behind."""
    existed = os.path.isdir(work_dir)
    before = set(os.listdir(work_dir)) if existed else set()
    try:
        yield
    except BaseException:
        if os.path.isdir(work_dir):
            for name in set(os.listdir(work_dir)) - before:
                if TIMESTAMP_DIR.match(name):
                    shutil.rmtree(os.path.join(work_dir, name), ignore_errors=True)
            if not existed and not os.listdir(work_dir):
                os.rmdir(work_dir)
        raise


def build_runner(cfg, verbose: bool, weights: str | None = None) -> Runner:
    """``Runner.from_cfg`` with a start-up line before and after (rank 0, stderr): building a
    full config (and reading its weights) takes minutes and the quiet runner prints nothing."""
    import sys
    import time

    from mmengine.dist import get_rank
    started = time.monotonic()
    talk = get_rank() == 0 if cfg.get('launcher', 'none') != 'none' else True
    if talk:
        print(f'building the runner and model of {cfg.filename}'
              f'{" (weights " + weights + ")" if weights else ""} ...', file=sys.stderr,
              flush=True)
    with _removed_on_failure(cfg.work_dir):
        runner = runner_class(verbose).from_cfg(cfg)
    if talk:
        print(f'runner ready in {time.monotonic() - started:.1f} s', file=sys.stderr, flush=True)
    return runner
