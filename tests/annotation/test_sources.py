"""Inputs of the annotate tool: folders, list files, videos (stride, resume), webcams."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from ovperception.annotation.sources import InputItem, collect_inputs, iterate_frames
from tests.annotation.inputs import VIDEO_FPS, make_inputs, write_video


def test_folder_walk_mirrors_relative_paths(tmp_path):
    source = make_inputs(str(tmp_path / 'in'))
    items = collect_inputs(source)
    assert [(i.kind, i.name) for i in items] == [
        ('image', 'broken.jpg'), ('video', 'clip.mp4'), ('image', 'a/x.jpg'),
        ('image', 'a/x.png'), ('image', 'b/x.jpg')]
    assert all(os.path.isabs(i.path) for i in items)


def test_list_file_relative_to_its_folder(tmp_path):
    source = make_inputs(str(tmp_path / 'in'), broken=False, video=False)
    listing = tmp_path / 'in' / 'todo.txt'
    listing.write_text('# two of them\na/x.png\n\nb/x.jpg\n')
    assert [i.name for i in collect_inputs(str(listing))] == ['a/x.png', 'b/x.jpg']
    listing.write_text('a/missing.png\n')
    with pytest.raises(FileNotFoundError, match='missing'):
        collect_inputs(str(listing))
    assert collect_inputs(os.path.join(source, 'a', 'x.png'))[0].name == 'x.png'
    assert collect_inputs('3') == [InputItem('webcam', '3', 'webcam3')]


def test_list_entries_outside_the_lists_folder_are_named_relative_to_their_common_folder(
        tmp_path):
    """Not after their absolute path (issue #23, item 11)."""
    make_inputs(str(tmp_path / 'in'), broken=False, video=False)
    (tmp_path / 'lists').mkdir()
    listing = tmp_path / 'lists' / 'todo.txt'
    listing.write_text(f'../in/a/x.png\n{tmp_path}/in/b/x.jpg\n')
    assert [i.name for i in collect_inputs(str(listing))] == ['a/x.png', 'b/x.jpg']


def test_video_frames_in_order_with_stride_and_resume(tmp_path):
    path = str(tmp_path / 'v.mp4')
    write_video(path, frames=7)
    item = InputItem('video', path, 'v.mp4')
    frames = list(iterate_frames(item, stride=3))
    assert [f.index for f in frames] == [0, 3, 6]
    assert [f.timestamp for f in frames] == [i / VIDEO_FPS for i in (0, 3, 6)]
    assert frames[1].image.shape == (48, 64, 3)
    # the bright bar moves right: frame 3 is brighter further right than frame 0
    assert frames[1].image[:, 30:40].mean() > frames[0].image[:, 30:40].mean()
    resumed = list(iterate_frames(item, stride=3, is_done=lambda index: index == 3))
    assert [(f.index, f.image is None) for f in resumed] == [(0, False), (3, True),
                                                            (6, False)]
    assert np.array_equal(resumed[2].image, frames[2].image)
    assert [f.index for f in iterate_frames(item, stride=2, max_frames=2)] == [0, 2]


class FakeCamera:
    """A webcam that yields grey frames of increasing brightness."""

    def __init__(self, index: int) -> None:
        assert index == 0
        self.count = 0

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 0.0 if prop == cv2.CAP_PROP_FPS else self.count * 40.0

    def read(self):
        self.count += 1
        return True, np.full((24, 32, 3), self.count * 10, np.uint8)

    def grab(self) -> bool:
        self.count += 1
        return True

    def release(self) -> None:
        pass


def test_webcam_frames_until_max(monkeypatch):
    monkeypatch.setattr(cv2, 'VideoCapture', FakeCamera)
    frames = list(iterate_frames(collect_inputs('0')[0], stride=2, max_frames=3))
    assert [f.index for f in frames] == [0, 2, 4]
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 30, 50]


def test_unreadable_video_is_a_value_error_and_ffmpeg_stays_quiet(tmp_path, capfd):
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'not a video')
    with pytest.raises(ValueError, match='cannot open video|no readable frame'):
        list(iterate_frames(InputItem('video', str(bad), 'bad.mp4')))
    assert 'moov atom' not in capfd.readouterr().err  # issue #23, item 9
