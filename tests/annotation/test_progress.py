"""Progress of a shard (issue #23, item 9): messages on their own lines, never inside the
bar; per-frame text for videos; under torchrun rank 0 counts the inputs of every rank; one
line per tenth of the inputs without a bar."""
from __future__ import annotations

import time

from ovperception.annotation.progress import RankCounts, ShardProgress


def test_without_a_bar_one_line_per_tenth_of_the_inputs(capsys):
    progress = ShardProgress(25, 25, bar=False)
    for _ in range(25):
        progress.advance()
    progress.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f'annotate: {k}/25 inputs' for k in (3, 6, 9, 12, 15, 18, 21, 24, 25)]


def test_messages_leave_the_bar_and_a_share_without_counts_is_named(capsys):
    progress = ShardProgress(3, 6, bar=True)
    progress.advance()
    progress.note('skipped a.jpg: broken')
    progress.frame('clip.mp4', 4)
    progress.advance()
    progress.advance()
    progress.close()
    err = capsys.readouterr().err
    assert '\nskipped a.jpg: broken\n' in err.replace('\r', '\n')
    assert 'this process: 3 of 6' in err and 'clip.mp4 frame 4' in err


def test_other_ranks_stay_quiet(capsys):
    progress = ShardProgress(4, 8, bar=True, quiet=True)
    progress.note('skipped b.jpg: broken')  # failures are still reported
    for _ in range(4):
        progress.advance()
    progress.close()
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err == 'skipped b.jpg: broken\n'


def test_rank_zero_counts_the_inputs_of_every_rank(tmp_path, capsys):
    """Two ranks of 3 inputs each: rank 0's lines count all 6, including the inputs rank 1
    finishes while rank 0 waits for it (read by the polling thread)."""
    folder = str(tmp_path / 'progress')
    RankCounts.clear(folder)
    zero = ShardProgress(3, 6, bar=False, every=2, counts=RankCounts(folder, 0, 2),
                         poll=0.01)
    one = ShardProgress(3, 6, bar=False, quiet=True, counts=RankCounts(folder, 1, 2, 0.0))
    one.advance()
    for _ in range(3):
        zero.advance()  # rank 0's shard is done; rank 1 still works
    one.advance()
    one.advance()
    deadline = time.monotonic() + 10
    while zero._shown < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert zero._shown == 6  # seen by polling, before rank 0 closes
    one.close()
    zero.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == 'annotate: 6/6 inputs' and 'this process' not in '\n'.join(lines)
    counts = [int(line.split()[1].split('/')[0]) for line in lines]
    assert counts == sorted(counts) and all(line.endswith('/6 inputs') for line in lines)


def test_the_bar_of_rank_zero_ends_at_all_inputs(tmp_path, capsys):
    """A rank that published its count before rank 0 started counting, and one that left
    no file (dead before counting) -- the bar takes what there is and never waits."""
    folder = str(tmp_path / 'progress')
    RankCounts(folder, 1, 3).publish(4, final=True)
    zero = ShardProgress(4, 12, bar=True, counts=RankCounts(folder, 0, 3))
    for _ in range(4):
        zero.advance()
    zero.close()
    err = capsys.readouterr().err
    assert '8/12' in err and 'this process' not in err
