"""What every command-line tool shares, importable without torch: one-line errors, Ctrl-C.

Tools parse and check their arguments with this and ``argparse`` only, then import torch and
the models inside ``main`` (so ``--help`` and argument errors answer at once).
"""
from __future__ import annotations

import os
import sys
from typing import Callable

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
