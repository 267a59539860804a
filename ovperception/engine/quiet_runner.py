"""A Runner whose terminal shows warnings only; the full log still goes to the log file.

mmengine's Runner logs the environment, the whole config and the hook table at INFO: about
250 lines before a 4-image evaluation. ``tools/test.py`` and ``tools/train.py`` use
:class:`QuietRunner` unless ``--verbose`` is given; the log file in the work dir keeps
everything.
"""
from __future__ import annotations

import logging

from mmengine.logging import MMLogger
from mmengine.runner import Runner


class QuietRunner(Runner):
    """``Runner`` whose console handler shows WARNING and above (the log file keeps INFO)."""

    def build_logger(self, *args, **kwargs) -> MMLogger:
        logger = super().build_logger(*args, **kwargs)
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:  # the console, not the FileHandler
                handler.setLevel(logging.WARNING)
        return logger


def runner_class(verbose: bool) -> type[Runner]:
    """mmengine's ``Runner`` with ``--verbose``, else :class:`QuietRunner`."""
    return Runner if verbose else QuietRunner


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
    runner = runner_class(verbose).from_cfg(cfg)
    if talk:
        print(f'runner ready in {time.monotonic() - started:.1f} s', file=sys.stderr, flush=True)
    return runner
