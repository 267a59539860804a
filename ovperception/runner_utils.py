"""Deprecated import path (kept for one release): use ``ovperception.engine.runner_cli``."""
import warnings

from ovperception.engine.runner_cli import *  # noqa: F401,F403
from ovperception.engine.runner_cli import (UnknownConfigKeyError, add_runner_arguments,  # noqa: F401
                                            load_config, parse_runner_arguments, run_cli)

warnings.warn('ovperception.runner_utils is deprecated: use ovperception.engine.runner_cli',
              DeprecationWarning, stacklevel=2)
