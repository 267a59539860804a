"""Measurement primitives: a synchronising timer, percentiles and peak memory.

Pure helpers with no model knowledge, shared by :mod:`.runner` and tests.
"""
from __future__ import annotations

import contextlib
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch

MIB = float(1 << 20)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued CUDA work on ``device`` (no-op on CPU)."""
    device = torch.device(device)
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@dataclass
class Elapsed:
    """Seconds measured by :func:`timer` (filled when the block exits).

    Attributes:
        seconds: wall-clock time.
        cpu_seconds: CPU time of this process (all its threads). On a shared CPU it
            counts only this process's work, so CPU-time ratios stay meaningful when
            other jobs slow the wall clock down (with one torch thread; idle OpenMP
            threads that spin would add to it).
    """

    seconds: float = 0.0
    cpu_seconds: float = 0.0


@contextlib.contextmanager
def timer(device: torch.device | str = 'cpu') -> Iterator[Elapsed]:
    """Time a block with ``time.perf_counter``, synchronising CUDA at both ends.

    Example::

        with timer(device) as elapsed:
            model(x)
        print(elapsed.seconds)
    """
    elapsed = Elapsed()
    synchronize(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        yield elapsed
    finally:
        synchronize(device)
        elapsed.seconds = time.perf_counter() - start
        elapsed.cpu_seconds = time.process_time() - cpu_start


def percentiles(values: Sequence[float],
                qs: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """Percentiles with linear interpolation between order statistics (numpy's default).

    Args:
        values: N >= 1 samples.
        qs: percentiles in [0, 100].

    Returns:
        ``{'p50': ..., 'p90': ...}`` (keys ``f'p{q:g}'``).
    """
    if not len(values):
        raise ValueError('percentiles of an empty sequence')
    ordered = sorted(float(v) for v in values)
    out = {}
    for q in qs:
        if not 0 <= q <= 100:
            raise ValueError(f'percentile {q} outside [0, 100]')
        rank = q / 100.0 * (len(ordered) - 1)
        low, high = math.floor(rank), math.ceil(rank)
        out[f'p{q:g}'] = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return out


def overhead_ratio(pipeline_seconds: float, floor_seconds: float) -> float:
    """How many times the floor (plain backbone forward) the pipeline takes (inf if floor 0)."""
    return pipeline_seconds / floor_seconds if floor_seconds > 0 else math.inf


# ---------------------------------------------------------------- process memory (CPU)
def _proc_status_bytes(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (Linux) in bytes, or None."""
    try:
        with open('/proc/self/status') as handle:
            for line in handle:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def current_rss() -> int:
    """Resident set size of this process in bytes (/proc, else psutil, else the peak)."""
    rss = _proc_status_bytes('VmRSS')
    if rss is not None:
        return rss
    try:
        import psutil
        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return peak_rss()


def peak_rss() -> int:
    """Peak resident set size in bytes (VmHWM, else ``getrusage`` ru_maxrss)."""
    hwm = _proc_status_bytes('VmHWM')
    if hwm is not None:
        return hwm
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss) if sys.platform == 'darwin' else int(maxrss) * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); whether it worked."""
    try:
        with open('/proc/self/clear_refs', 'w') as handle:
            handle.write('5')
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak memory a block adds: CUDA ``max_memory_allocated`` growth, or peak RSS growth.

    On CPU the kernel's peak-RSS mark is reset on entry where Linux allows it
    (``method='rss-hwm'``); elsewhere the process-lifetime ``ru_maxrss`` is used
    (``method='ru_maxrss'``), which under-reports a block that stays below an
    earlier peak.

    Attributes (after the block):
        peak_bytes: peak (CUDA allocated / RSS) during the block.
        delta_bytes: ``peak_bytes`` minus the level on entry (>= 0).
        method: 'cuda-allocated', 'rss-hwm' or 'ru_maxrss'.
    """

    def __init__(self, device: torch.device | str = 'cpu') -> None:
        self.device = torch.device(device)
        self.base = self.peak_bytes = self.delta_bytes = 0
        self.method = ''

    def __enter__(self) -> PeakMemory:
        if self.device.type == 'cuda':
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base, self.method = torch.cuda.memory_allocated(self.device), 'cuda-allocated'
        else:
            self.method = 'rss-hwm' if reset_peak_rss() else 'ru_maxrss'
            self.base = current_rss()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.device.type == 'cuda':
            synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self.peak_bytes = peak_rss()
        self.delta_bytes = max(0, self.peak_bytes - self.base)

    def as_dict(self) -> dict[str, float | str]:
        """``{'peak_mib', 'delta_mib', 'method'}``."""
        return dict(peak_mib=self.peak_bytes / MIB, delta_mib=self.delta_bytes / MIB,
                    method=self.method)


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
