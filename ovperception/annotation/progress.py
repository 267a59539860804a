"""Progress of a run: a bar on a terminal, or one line per N inputs.

Messages (skipped inputs) are written above the bar, never into it; a video advances the
bar's text frame by frame. Under torchrun every process publishes how many of its inputs
are done (:class:`RankCounts`, one small file per rank in the output folder) and rank 0's
bar or lines count the inputs of all processes.
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time

from tqdm import tqdm


class RankCounts:
    """How many inputs each process of a torchrun run has done: ``FOLDER/rank<r>`` holds
    rank ``r``'s count as text, replaced (temporary file + rename, no fsync: it is only
    shown) at most every ``interval`` seconds and at the end of its shard.

    Files rather than collectives: a process that dies or hangs just stops counting (rank 0
    keeps its last count; the run fails through the process group), and ranks with
    different numbers of inputs never wait for one another to report.

    Args:
        folder: where the count files live (the output's ``.annotate/progress``; cleared by
            rank 0 with :meth:`clear` before the processes start counting).
        rank: this process.
        world_size: number of processes.
        interval: shortest time in seconds between two writes of this rank's file.
    """

    def __init__(self, folder: str, rank: int, world_size: int,
                 interval: float = 0.2) -> None:
        self.folder = folder
        self.rank = rank
        self.world_size = world_size
        self.interval = interval
        self._written_at = float('-inf')
        os.makedirs(folder, exist_ok=True)

    @staticmethod
    def clear(folder: str) -> None:
        """Remove the counts of an earlier run (rank 0, before any process counts)."""
        shutil.rmtree(folder, ignore_errors=True)

    def _path(self, rank: int) -> str:
        return os.path.join(self.folder, f'rank{rank}')

    def publish(self, done: int, final: bool = False) -> None:
        """Record this rank's ``done`` count (skipped when written less than ``interval``
        seconds ago, unless ``final``)."""
        now = time.monotonic()
        if not final and now - self._written_at < self.interval:
            return
        self._written_at = now
        temporary = os.path.join(self.folder, f'.rank{self.rank}.tmp')
        with open(temporary, 'w', encoding='ascii') as handle:
            handle.write(str(done))
        os.replace(temporary, self._path(self.rank))

    def of_others(self) -> int:
        """Sum of the other ranks' last published counts (0 for one not yet published)."""
        total = 0
        for rank in range(self.world_size):
            if rank == self.rank:
                continue
            try:
                with open(self._path(rank), encoding='ascii') as handle:
                    total += int(handle.read() or 0)
            except (OSError, ValueError):
                pass  # not written yet (the rename makes a half-written file impossible)
        return total


class ShardProgress:
    """Progress over the ``total`` inputs of this process's shard.

    Args:
        total: inputs of this process's shard.
        all_inputs: inputs of the whole run (differs from ``total`` under torchrun).
        bar: draw a bar (else print ``annotate: k/N inputs`` every ``every`` inputs and at
            the end, on stdout, for logs of batch jobs).
        quiet: neither bar nor lines (processes other than rank 0; they still publish
            their counts).
        every: inputs between two lines without a bar (default: about 10 lines a run,
            at least every 100 inputs).
        counts: under torchrun, the shared per-rank counts: this process publishes its own
            and, unless ``quiet``, shows the sum over all ranks out of ``all_inputs``
            (polled every ``poll`` seconds, also while waiting for the other ranks after
            its own shard). Without it a shard smaller than the run is labelled as this
            process's share.
        poll: seconds between two reads of the other ranks' counts.
    """

    def __init__(self, total: int, all_inputs: int, bar: bool = True, quiet: bool = False,
                 every: int | None = None, counts: RankCounts | None = None,
                 poll: float = 0.5) -> None:
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.counts = counts
        self._others = 0
        self._shown = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        whole_run = counts is not None and not quiet
        self.shown_total = all_inputs if whole_run else total
        share = '' if whole_run or all_inputs == total else \
            f' (this process: {total} of {all_inputs})'
        self.every = every or max(1, min(100, -(-self.shown_total // 10)))
        self.bar = None
        if bar and not quiet and self.shown_total:
            self.bar = tqdm(total=self.shown_total, desc='annotate' + share, unit='input',
                            dynamic_ncols=True)
        elif not quiet and share:
            print(f'annotate{share}', flush=True)
        if counts is not None:
            counts.publish(0, final=True)
            if whole_run:
                self._poller = threading.Thread(target=self._poll, args=(poll,),
                                                daemon=True, name='annotate-progress')
                self._poller.start()

    def __enter__(self) -> ShardProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _poll(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._others = self.counts.of_others()
            self._show()

    def _show(self) -> None:
        """Bring the bar or the lines up to ``done`` plus the other ranks' counts."""
        with self._lock:
            count = min(self.done + self._others, self.shown_total)
            if count <= self._shown or self.quiet:
                return
            if self.bar is not None:
                self.bar.update(count - self._shown)
            elif count // self.every > self._shown // self.every or \
                    count == self.shown_total:
                print(f'annotate: {count}/{self.shown_total} inputs', flush=True)
            self._shown = count

    def note(self, message: str) -> None:
        """A message line on stderr (above the bar when there is one)."""
        with self._lock:
            if self.bar is not None:
                self.bar.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr, flush=True)

    def frame(self, video_name: str, index: int) -> None:
        """A video frame is done: show it in the bar's text."""
        if self.bar is not None:
            with self._lock:
                self.bar.set_postfix_str(f'{video_name} frame {index}', refresh=True)

    def advance(self) -> None:
        """An input of this shard is done."""
        self.done += 1
        if self.counts is not None:
            self.counts.publish(self.done, final=self.done == self.total)
        if self.bar is not None:
            with self._lock:
                self.bar.set_postfix_str('', refresh=False)
        self._show()

    def close(self) -> None:
        """Stop polling; take the other ranks' final counts (call it after waiting for
        them) and close the bar."""
        if self._poller is not None:
            self._stop.set()
            self._poller.join()
            self._poller = None
            self._others = self.counts.of_others()
            self._show()
        if self.bar is not None:
            self.bar.close()
            self.bar = None
