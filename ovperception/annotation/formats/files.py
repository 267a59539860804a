"""File helpers shared by the dataset writers: image links, atomic text files."""
from __future__ import annotations

import json
import os
import shutil
import tempfile

from ovperception.utils.atomic import atomic_write_bytes


def atomic_write_text(path: str, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode('utf-8'))


def write_json(path: str, data: object) -> None:
    """Write JSON-native ``data`` (dicts, lists, str, int, float, bool, None) compactly and
    atomically as UTF-8 (large datasets: no per-value conversion pass)."""
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, separators=(',', ':')) + '\n')


def link_image(source: str, target: str, copy: bool = False) -> None:
    """Make ``target`` show the image ``source``: a relative symlink (a copy with ``copy``
    or where the file system has no symlinks), replaced atomically. An up-to-date link is
    left alone."""
    source = os.path.abspath(source)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    relative = os.path.relpath(source, directory)
    if not copy and os.path.islink(target) and os.readlink(target) == relative:
        return
    if not copy and not os.path.lexists(target):
        try:  # creating a symlink is atomic by itself: one system call (a fresh dataset)
            os.symlink(relative, target)
            return
        except FileExistsError:  # made meanwhile: replace it below
            pass
        except OSError:  # no symlinks on this file system: a copy below
            copy = True
    handle, temporary = tempfile.mkstemp(dir=directory, prefix='.link.', suffix='.tmp')
    os.close(handle)
    os.unlink(temporary)
    if copy:
        shutil.copyfile(source, temporary)
    else:
        try:
            os.symlink(relative, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
    try:
        os.replace(temporary, target)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def image_extension(record_name: str) -> str:
    """The lower-case extension of a record's image (``'.png'`` for video frames)."""
    return os.path.splitext(record_name)[1].lower() or '.png'
