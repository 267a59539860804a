"""An ordered map over worker processes that leaves no worker behind.

The pool is joblib's ``loky`` executor (fresh interpreters, safe after CUDA and threads, unlike
``fork``); one pool per worker count is kept for the life of the process (idle workers exit
after :data:`IDLE_TIMEOUT_S`) so that a test loop pays the start-up once. Workers ignore
SIGINT: on Ctrl-C (or any error) in the parent, :func:`ordered_map` kills every worker before
the exception goes on, so ``tools/*`` exit 130 at once with no process left computing; on
Linux a worker also dies with its parent when the parent is killed outright (SIGKILL). Light
imports only (no torch), like the tools' argument parsing.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections import deque
from typing import Any, Callable, Iterable, TypeVar

#: Share of the usable cores that ``workers='auto'`` takes (ExCEL's official post-processing
#: runs its CRF with joblib on ``int(cpu_count() * 0.6)`` processes).
AUTO_CPU_FRACTION = 0.6
#: Seconds an idle worker waits for work before it exits (a new one starts on demand).
IDLE_TIMEOUT_S = 120

Result = TypeVar('Result')
_executors: dict[int, Any] = {}
_lock = threading.Lock()


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, 'sched_getaffinity'):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def auto_workers(fraction: float = AUTO_CPU_FRACTION) -> int:
    """``max(1, int(usable_cpus() * fraction))`` shared among the ranks of this node
    (``LOCAL_WORLD_SIZE``, set by torchrun), so distributed testing does not oversubscribe."""
    ranks = os.environ.get('LOCAL_WORLD_SIZE', '1')
    ranks_on_node = int(ranks) if ranks.isdigit() and int(ranks) > 0 else 1
    return max(1, int(usable_cpus() * fraction) // ranks_on_node)


def resolve_workers(value: int | str, name: str) -> int:
    """Worker processes for an option that is ``'auto'`` (:func:`auto_workers`) or an
    int >= 1 (1: run in the calling process); anything else is a one-line ValueError."""
    if value == 'auto':
        return auto_workers()
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be 'auto' or an int >= 1 (1: in this process), "
                         f'got {value!r}')
    return value


def _prepare_worker() -> None:
    """Worker initializer: ignore Ctrl-C (it reaches the whole process group; the parent
    handles it and kills the workers) and, on Linux, die with the parent even when that is
    killed outright (``PR_SET_PDEATHSIG``), so that no worker outlives it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith('linux'):
        import ctypes
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _is_usable(executor: Any) -> bool:
    """False once the executor is broken (a worker died) or shut down."""
    flags = getattr(executor, '_flags', None)  # loky's state flags
    return flags is None or (flags.broken is None and not flags.shutdown)


def process_executor(workers: int) -> Any:
    """The loky executor with ``workers`` processes (started on first use, kept)."""
    from joblib.externals.loky import ProcessPoolExecutor
    with _lock:
        executor = _executors.get(workers)
        if executor is None or not _is_usable(executor):
            executor = ProcessPoolExecutor(max_workers=workers, timeout=IDLE_TIMEOUT_S,
                                           initializer=_prepare_worker)
            _executors[workers] = executor
        return executor


def stop_process_executors() -> None:
    """Kill every worker of every pool now (running tasks included) and forget the pools."""
    with _lock:
        executors = list(_executors.values())
        _executors.clear()
    for executor in executors:
        executor.shutdown(wait=True, kill_workers=True)


def ordered_map(function: Callable[..., Result], arguments: Iterable[tuple],
                workers: int) -> list[Result]:
    """``[function(*args) for args in arguments]`` on ``workers`` processes, in order.

    ``arguments`` is consumed lazily, so the caller's work that produces the next arguments
    (e.g. a GPU forward) overlaps the workers' computation of the previous ones; at most
    ``workers + 1`` calls are submitted at a time (one running per worker and one queued),
    which bounds the memory held by pending arguments and leaves loky nothing unsent to
    cancel when the workers are killed. ``function``
    must be importable by the workers (a module-level function). Any exception, Ctrl-C
    included, kills the workers first and is then raised unchanged.
    """
    executor = process_executor(workers)
    results: list[Result] = []
    submitted: deque = deque()
    try:
        for args in arguments:
            if len(submitted) > workers:  # one busy task per worker and one queued: no more
                results.append(submitted.popleft().result())
            submitted.append(executor.submit(function, *args))
        results.extend(future.result() for future in submitted)
        return results
    except BaseException:
        stop_process_executors()  # cancels what is queued, kills what runs
        raise
