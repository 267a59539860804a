"""Progress of one process's shard: a bar on a terminal, or one line per N inputs.

Messages (skipped inputs) are written above the bar, never into it; a video advances the
bar's text frame by frame; under torchrun the bar of rank 0 says that it counts its own
share of the inputs.
"""
from __future__ import annotations

import sys

from tqdm import tqdm


class ShardProgress:
    """Progress over ``total`` inputs of this process.

    Args:
        total: inputs of this process's shard.
        all_inputs: inputs of the whole run (differs from ``total`` under torchrun).
        bar: draw a bar (else print ``annotate: k/total inputs`` every ``every`` inputs
            and at the end, on stdout, for logs of batch jobs).
        quiet: neither bar nor lines (processes other than rank 0).
        every: inputs between two lines without a bar (default: about 10 lines a run,
            at least every 100 inputs).
    """

    def __init__(self, total: int, all_inputs: int, bar: bool = True, quiet: bool = False,
                 every: int | None = None) -> None:
        self.total = total
        self.done = 0
        self.quiet = quiet
        share = '' if all_inputs == total else f' (this process: {total} of {all_inputs})'
        self.every = every or max(1, min(100, -(-total // 10)))
        self.bar = None
        if bar and not quiet and total:
            self.bar = tqdm(total=total, desc='annotate' + share, unit='input',
                            dynamic_ncols=True)
        elif not quiet and share:
            print(f'annotate{share}', flush=True)

    def note(self, message: str) -> None:
        """A message line on stderr (above the bar when there is one)."""
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def frame(self, video_name: str, index: int) -> None:
        """A video frame is done: show it in the bar's text."""
        if self.bar is not None:
            self.bar.set_postfix_str(f'{video_name} frame {index}', refresh=True)

    def advance(self) -> None:
        """An input is done."""
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str('', refresh=False)
            self.bar.update(1)
        elif not self.quiet and (self.done % self.every == 0 or self.done == self.total):
            print(f'annotate: {self.done}/{self.total} inputs', flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
