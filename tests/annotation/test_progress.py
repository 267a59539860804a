"""Progress of a shard (issue #23, item 9): messages on their own lines, never inside the
bar; per-frame text for videos; a process's share named under torchrun; one line per
tenth of the inputs without a bar."""
from __future__ import annotations

from ovperception.annotation.progress import ShardProgress


def test_without_a_bar_one_line_per_tenth_of_the_inputs(capsys):
    progress = ShardProgress(25, 25, bar=False)
    for _ in range(25):
        progress.advance()
    progress.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f'annotate: {k}/25 inputs' for k in (3, 6, 9, 12, 15, 18, 21, 24, 25)]


def test_messages_leave_the_bar_and_the_share_is_named(capsys):
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
