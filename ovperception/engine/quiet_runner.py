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
