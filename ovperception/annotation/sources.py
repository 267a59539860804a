"""What ``tools/annotate.py`` reads: an image, a folder, a list file, a video or a webcam.

:func:`collect_inputs` turns the SOURCE argument into :class:`InputItem`\\ s with a unique
relative ``name`` each (mirroring the input's relative path, so ``a/x.jpg``, ``b/x.jpg``
and ``a/x.png`` never collide); :func:`iterate_frames` decodes a video (or a webcam) in
order, with a frame stride.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from ovperception.apis.folders import IMAGE_SUFFIXES, find_images

# FFmpeg inside OpenCV logs to the terminal when a video does not open ("moov atom not
# found"); such an input is reported once, in our words (InputReadError), so FFmpeg is
# quiet unless the user asks otherwise. Read when the first capture opens.
os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')  # AV_LOG_QUIET

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')
LIST_SUFFIXES = ('.txt', '.lst', '.list')


class InputReadError(ValueError):
    """A video or camera that cannot be opened or read."""


@dataclass(frozen=True)
class InputItem:
    """One input: ``kind`` is ``'image'``, ``'video'`` or ``'webcam'``; ``path`` the file
    (the camera index for a webcam); ``name`` its unique relative name."""

    kind: str
    path: str
    name: str


def _kind_of(path: str) -> str:
    return 'video' if path.lower().endswith(VIDEO_SUFFIXES) else 'image'


def _relative_name(path: str, root: str) -> str:
    return os.path.relpath(os.path.abspath(path), root).replace(os.sep, '/')


def _inside(path: str, root: str) -> bool:
    relative = os.path.relpath(os.path.abspath(path), root)
    return relative != os.pardir and not relative.startswith(os.pardir + os.sep)


def _list_root(list_path: str, paths: list[str]) -> str:
    """The folder a list's entries are named relative to: the list's folder, or, when an
    entry lies outside it, the deepest folder holding every entry (so ``../other/x.jpg``
    is ``other/x.jpg``, not its absolute path)."""
    root = os.path.dirname(os.path.abspath(list_path))
    if all(_inside(p, root) for p in paths):
        return root
    return os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])


def _read_list(list_path: str) -> list[str]:
    """Paths of a list file (one per line, ``#`` comments, relative to the list's folder)."""
    base = os.path.dirname(os.path.abspath(list_path))
    with open(list_path, encoding='utf-8') as handle:
        lines = [line.strip() for line in handle]
    paths = [line if os.path.isabs(line) else os.path.join(base, line)
             for line in lines if line and not line.startswith('#')]
    if not paths:
        raise ValueError(f'the list file {list_path} names no input')
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f'the list file {list_path} names {len(missing)} missing '
                                f'file(s), e.g. {missing[0]}')
    return paths


def collect_inputs(source: str) -> list[InputItem]:
    """Inputs of SOURCE: a webcam index (digits), an image, a video, a list file
    (``.txt``/``.lst``) or a folder walked recursively for images and videos.

    Raises:
        FileNotFoundError / ValueError: nothing to read (one-line messages).
    """
    if source.isdigit() and not os.path.exists(source):
        return [InputItem('webcam', source, f'webcam{source}')]
    if os.path.isdir(source):
        # walked from the absolute folder, so every path is absolute and normalised and its
        # name is the text after the folder (no abspath / relpath per input: a third of a
        # rerun's time on 1,000 inputs)
        root = os.path.abspath(source)
        start = len(root.rstrip(os.sep)) + 1
        return [InputItem(_kind_of(p), p, p[start:].replace(os.sep, '/'))
                for p in find_images(root, IMAGE_SUFFIXES + VIDEO_SUFFIXES)]
    if os.path.isfile(source) and source.lower().endswith(LIST_SUFFIXES):
        paths = _read_list(source)
        root = _list_root(source, paths)
    elif os.path.isfile(source):
        paths = [source]
        root = os.path.dirname(os.path.abspath(source))
    else:
        raise FileNotFoundError(f'{source!r} is neither an image, a video, a list file, a '
                                f'folder nor a webcam index')
    return [InputItem(_kind_of(p), os.path.abspath(p), _relative_name(p, root))
            for p in paths]


@dataclass(frozen=True)
class Frame:
    """A frame: ``index`` in the video, ``timestamp`` in seconds, (H, W, 3) RGB ``image``
    (None for a frame passed over because it is already done)."""

    index: int
    timestamp: float
    image: np.ndarray | None


def open_capture(item: InputItem) -> cv2.VideoCapture:
    """An opened OpenCV capture of a video file or webcam.

    Raises:
        InputReadError: it cannot be opened.
    """
    capture = cv2.VideoCapture(int(item.path) if item.kind == 'webcam' else item.path)
    if not capture.isOpened():
        raise InputReadError(f'cannot open video {item.path}')
    return capture


def iterate_frames(item: InputItem, stride: int = 1, max_frames: int | None = None,
                   is_done: Callable[[int], bool] = lambda index: False) -> Iterator[Frame]:
    """Frames ``0, stride, 2 * stride, ...`` of a video or webcam, in order (at most
    ``max_frames`` of them).

    Frames for which ``is_done(index)`` holds are read past without being decoded and come
    with ``image=None`` (resuming);
    the timestamp is ``index / fps`` (fps from the container; the capture's position
    when it reports none).

    Raises:
        InputReadError: the video cannot be opened or holds no frame.
    """
    if stride < 1:
        raise ValueError(f'--frame-stride must be >= 1, got {stride}')
    capture = open_capture(item)
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    try:
        index = produced = 0
        while max_frames is None or produced < max_frames:
            selected = index % stride == 0
            timestamp = round(index / fps, 6) if fps > 0 else None
            if selected and not is_done(index):
                ok, bgr = capture.read()
                if not ok:
                    break
                if timestamp is None:
                    timestamp = round(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, 6)
                yield Frame(index, float(timestamp), np.ascontiguousarray(bgr[..., ::-1]))
            elif not capture.grab():
                break
            elif selected:
                yield Frame(index, float(timestamp or 0.0), None)
            produced += int(selected)
            index += 1
        if index == 0:
            raise InputReadError(f'video {item.path} holds no readable frame')
    finally:
        capture.release()
