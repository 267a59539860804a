"""Atomic file writes: a reader never sees a half-written output file.

Every writer encodes its payload in memory, writes it to a temporary file in
the destination directory, flushes and ``fsync``\\ s it, then ``os.replace``\\ s
it onto the destination (atomic on POSIX and Windows within one file system).
An interrupted write leaves the previous file, or no file, never a truncated
one. ``ensure_not_input`` guards tools against writing over their inputs.
"""
from __future__ import annotations

import contextvars
import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping, Union

import numpy as np
from PIL import Image, PngImagePlugin

from ovperception.utils.banded_image import BandedImage
from ovperception.utils.png_stream import write_png

PathLike = Union[str, os.PathLike]

_UMASK: int | None = None

#: PNGs with more values than this (about 16 megapixels of RGB) use zlib level 1 unless told.
LARGE_PNG_VALUES = 48_000_000

#: PNG text key marking files that ovperception wrote as outputs (see :func:`tag_png_outputs`).
OUTPUT_TAG_KEY = 'ovperception-output'
_OUTPUT_TAG: contextvars.ContextVar[str | None] = contextvars.ContextVar('_OUTPUT_TAG',
                                                                         default=None)


#: True inside :func:`deferred_sync`: writes skip their own fsync calls.
_DEFER_SYNC: contextvars.ContextVar[bool] = contextvars.ContextVar('_DEFER_SYNC',
                                                                  default=False)


@contextmanager
def deferred_sync() -> Iterator[None]:
    """Writes inside the block are still atomic (temporary file + rename) but skip their
    per-file ``fsync`` of file and folder; one ``os.sync()`` at the end of the block
    persists them all. For many files written into a folder that is only made visible
    afterwards (a staging folder swapped in whole): thousands of fsyncs cost far more than
    the writing itself."""
    token = _DEFER_SYNC.set(True)
    try:
        yield
    finally:
        _DEFER_SYNC.reset(token)
    if hasattr(os, 'sync'):
        os.sync()


class OverwriteInputError(ValueError):
    """An output path points at one of the inputs."""


def _file_mode() -> int:
    """Permission bits for new files: ``0o666`` minus the process umask."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return 0o666 & ~_UMASK


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, creating parent directories.

    Args:
        path: destination file; replaced if it exists.
        data: the complete file content.
    """
    atomic_write_stream(path, lambda handle: handle.write(data))


def atomic_write_stream(path: PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(handle)`` on a temporary file, then put it at ``path`` atomically (as
    :func:`atomic_write_bytes`, for content written piece by piece)."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.',
                                    suffix='.tmp')
    sync = not _DEFER_SYNC.get()
    try:
        with os.fdopen(fd, 'wb') as handle:
            write(handle)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        mode = (os.stat(path).st_mode & 0o777) if os.path.exists(path) else _file_mode()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    if sync:
        _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Persist the directory entry of a replaced file (best effort, POSIX only)."""
    if os.name != 'posix':
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def encode_image(array: np.ndarray, fmt: str, **save_kwargs: Any) -> bytes:
    """Encode an array as image-file bytes with PIL.

    Args:
        array: (H, W) uint8 / uint16 / bool, (H, W, 3) uint8 RGB or
            (H, W, 4) uint8 RGBA.
        fmt: PIL format name, e.g. ``'PNG'``, ``'JPEG'``.
        **save_kwargs: forwarded to ``PIL.Image.save`` (``quality=95`` ...).

    Returns:
        The encoded file content.
    """
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2 and array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f'a 2-D image must be uint8, uint16 or bool, got {array.dtype}')
    if array.ndim == 3 and (array.shape[2] not in (3, 4) or array.dtype != np.uint8):
        raise ValueError(f'a colour image must be (H, W, 3|4) uint8, got {array.shape} '
                         f'{array.dtype}')
    if array.ndim not in (2, 3):
        raise ValueError(f'cannot encode an array of shape {array.shape} as an image')
    if fmt == 'PNG' and array.size > LARGE_PNG_VALUES and 'compress_level' not in save_kwargs:
        save_kwargs = dict(save_kwargs, compress_level=1)  # zlib level 6 takes minutes on 100 MP
    tag = _OUTPUT_TAG.get()
    if tag is not None and fmt == 'PNG' and 'pnginfo' not in save_kwargs:
        info = PngImagePlugin.PngInfo()
        info.add_text(OUTPUT_TAG_KEY, tag)
        save_kwargs = dict(save_kwargs, pnginfo=info)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format=fmt, **save_kwargs)
    return buffer.getvalue()


@contextmanager
def tag_png_outputs(tag: str) -> Iterator[None]:
    """PNG files encoded inside this block carry the text chunk ``OUTPUT_TAG_KEY: tag``,
    so that a later run can tell its own outputs from input images (:func:`is_tagged_output`)
    when the output folder is the input folder."""
    token = _OUTPUT_TAG.set(tag)
    try:
        yield
    finally:
        _OUTPUT_TAG.reset(token)


def is_tagged_output(path: PathLike) -> bool:
    """Whether ``path`` is a PNG written inside :func:`tag_png_outputs` (reads the header only)."""
    path = os.fspath(path)
    if not path.lower().endswith('.png'):
        return False
    try:
        with Image.open(path) as image:
            return OUTPUT_TAG_KEY in image.info
    except Exception:  # unreadable: not ours; the reader reports it later
        return False


def atomic_save_image(path: PathLike, array: np.ndarray | BandedImage,
                      **save_kwargs: Any) -> None:
    """Encode ``array`` in the format named by the file extension and write it atomically.

    Args:
        path: destination; its extension (``.png``, ``.jpg``, ...) picks the format.
        array: see ``encode_image``; colour arrays are RGB. A large ``BandedImage`` goes to
            a PNG a band of rows at a time without being made whole.
        **save_kwargs: forwarded to ``PIL.Image.save``.
    """
    extension = os.path.splitext(os.fspath(path))[1].lower()
    fmt = Image.registered_extensions().get(extension)
    if fmt is None:
        raise ValueError(f'cannot tell the image format of {os.fspath(path)!r} from its '
                         f'extension {extension!r}')
    if not isinstance(array, BandedImage):  # which stays lazy: streamed, or made below
        array = np.asarray(array)
    streamable = (array.ndim == 2 and array.dtype in (np.uint8, np.uint16)) or (
        array.ndim == 3 and array.shape[2] in (3, 4) and array.dtype == np.uint8) or (
        isinstance(array, BandedImage) and array.shape[2] == 1)  # grey, uint8 or uint16
    if fmt == 'PNG' and array.size > LARGE_PNG_VALUES and not save_kwargs and streamable:
        # a band of rows at a time: no PIL copy (4 bytes a pixel) nor whole-file bytes
        tag = _OUTPUT_TAG.get()
        atomic_write_stream(path, lambda handle: write_png(
            handle, array, {OUTPUT_TAG_KEY: tag} if tag is not None else None))
        return
    atomic_write_bytes(path, encode_image(np.asarray(array), fmt, **save_kwargs))


def to_jsonable(obj: Any) -> Any:
    """Recursively turn numpy / torch scalars and arrays, tuples and paths into JSON types."""
    if hasattr(obj, 'detach') and hasattr(obj, 'cpu'):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bytes):
        return obj.decode('ascii')
    return obj


def atomic_write_json(path: PathLike, obj: Any, indent: int | None = 2) -> None:
    """Serialise ``obj`` as UTF-8 JSON and write it atomically.

    Args:
        path: destination file.
        obj: JSON-compatible object; numpy / torch values are converted.
        indent: JSON indentation (``None`` for a compact file).
    """
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False)
    atomic_write_bytes(path, (text + '\n').encode('utf-8'))


def _same_file(a: str, b: str) -> bool:
    """Whether two paths name the same file (by inode when both exist)."""
    if os.path.exists(a) and os.path.exists(b):
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def ensure_not_input(out_path: PathLike, input_paths: Iterable[PathLike | None]) -> None:
    """Refuse to write ``out_path`` when it is one of ``input_paths``.

    Args:
        out_path: the file about to be written.
        input_paths: files the current job reads (``None`` entries are skipped).

    Raises:
        OverwriteInputError: ``out_path`` resolves to an input file (same path,
            symlink or hard link).
    """
    out = os.fspath(out_path)
    for candidate in input_paths:
        if candidate is None:
            continue
        source = os.fspath(candidate)
        if _same_file(out, source):
            raise OverwriteInputError(
                f'refusing to write {out}: it would overwrite the input file {source}; '
                f'choose another output directory')
