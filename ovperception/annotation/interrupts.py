"""Ctrl-C and SIGTERM during an annotation run: finish the input in flight, then stop.

While :class:`GracefulStop` is active, the first SIGINT (Ctrl-C) or SIGTERM (what
schedulers, ``timeout`` and ``torchrun`` send) only sets :attr:`GracefulStop.requested`
and prints one line; the shard loop stops after the input (or video frame) in flight, whose
result is kept, and the command exits 130. A second signal stops at once
(``KeyboardInterrupt``). Outside it, SIGTERM is turned into ``KeyboardInterrupt`` like
SIGINT, so every stop takes the same path (one line, exit 130, resumable).
"""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_Handler = Callable[[int, FrameType | None], Any] | int | None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class GracefulStop:
    """Context manager: signals ask the loop to stop after the input in flight."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, _Handler] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f'{signal.Signals(signum).name}: stopping after the input in flight (again to '
              f'stop at once)', file=sys.stderr, flush=True)

    def __enter__(self) -> 'GracefulStop':
        if _in_main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class TermAsInterrupt:
    """Context manager: SIGTERM raises ``KeyboardInterrupt`` (as SIGINT does)."""

    def __init__(self) -> None:
        self._previous: _Handler = None
        self._installed = False

    def __enter__(self) -> 'TermAsInterrupt':
        if _in_main_thread():
            self._previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)
            self._installed = False
