"""What every command-line tool shares, importable without torch: one-line errors, Ctrl-C.

Tools parse and check their arguments with this and ``argparse`` only, then import torch and
the models inside ``main`` (so ``--help`` and argument errors answer at once).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, Callable

#: Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT_STATUS = 130


def run_cli(main: Callable[[], object]) -> None:
    """Run a tool's ``main``: user errors print one line and exit 1; Ctrl-C prints one line
    and exits 130 (``OVP_DEBUG=1``: tracebacks)."""
    try:
        result = main()
    except KeyboardInterrupt:
        if os.environ.get('OVP_DEBUG'):
            raise
        print('interrupted (Ctrl-C); every file written so far is complete (writes are '
              'atomic)', file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT_STATUS)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        if os.environ.get('OVP_DEBUG'):
            raise
        print(f'error: {error}', file=sys.stderr)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


class LazyDictAction(argparse.Action):
    """mmengine's ``DictAction`` (``--cfg-options a.b=1 c=[1,2]``), imported only when the
    option is given, so that ``--help`` and other arguments parse without mmengine."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from mmengine.config import DictAction
        action = DictAction(self.option_strings, self.dest, nargs=self.nargs)
        try:
            action(parser, namespace, values, option_string)
        except RecursionError:  # mmengine's parser recurses forever on {...} literals
            parser.error(f'{option_string}: cannot read {" ".join(map(str, values))!r}; values '
                         'are numbers, strings, [lists] or (tuples) - set a dict key by key '
                         '(model.head.score_refiner.type=PAMRRefiner)')


def lazy_attributes(module_globals: dict, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``names`` (attribute -> module that defines it) on
    first access, so a tool's module keeps its attributes without importing them at start."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f'module {module_globals["__name__"]!r} has no attribute '
                                 f'{name!r}')
        value = getattr(importlib.import_module(names[name]), name)
        module_globals[name] = value
        return value

    return __getattr__


def add_runner_arguments(parser: argparse.ArgumentParser, script: str) -> None:
    """Arguments shared by train.py and test.py (mmseg/mmdet flag names)."""
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='folder for logs, checkpoints and metrics')
    parser.add_argument('--weights', help='a trained ovperception checkpoint, or an open_clip '
                        'state dict for the backbone')
    parser.add_argument('--cfg-options', nargs='+', action=LazyDictAction,
                        help='override config keys, e.g. model.test_cfg.stride=112')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help=f'job launcher (tools/dist_{script}.sh uses pytorch)')
    parser.add_argument('--verbose', action='store_true',
                        help='print the environment, config and hook dumps of the runner (they '
                        'always go to the log file in the work dir)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_runner_arguments(parser: argparse.ArgumentParser,
                           argv: list[str] | None) -> argparse.Namespace:
    """Parse and export ``LOCAL_RANK`` for mmengine's launcher."""
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def parse_size(text: str) -> tuple[int, int]:
    """'336x448' -> (336, 448); '224' -> (224, 224)."""
    parts = text.lower().split('x')
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) <= 0:
        raise argparse.ArgumentTypeError(f'size {text!r} is not HxW (e.g. 336x448)')
    return size  # type: ignore[return-value]
