"""Robust image and label-map reading.

``load_image`` returns every readable image as an (H, W, 3) uint8 RGB array,
whatever its mode on disk:

* grey (``L``, ``1``) is repeated over three channels;
* palette (``P``/``PA``) images are expanded through their palette;
* alpha (``RGBA``, ``LA``, ``PA``) is **dropped**, not composited: the colour
  stored under a transparent pixel is kept as-is (as OpenCV's ``IMREAD_COLOR``
  and mmcv do);
* 16-bit images (``I;16``, ``I;16B``, ``I;16L``) are scaled by the range of the
  type, ``x >> 8``, never by a per-image min-max, so a fixed value always maps
  to the same 8-bit value; ``I`` (32-bit int, what PIL uses for many 16-bit
  PNGs) is read as 16-bit data (clipped to [0, 65535], then ``>> 8``);
  ``F`` (float) is taken to lie in [0, 1];
* ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` go through PIL's conversion to RGB;
* the EXIF orientation tag is applied.

Unreadable input (missing decoder, truncated or corrupt data, a file that is no
image) raises ``ImageReadError``, which names the file and the reason. Images
whose pixel count exceeds ``max_pixels`` raise ``ImageTooLargeError`` before any
pixel is decoded; PIL's own decompression-bomb limit is replaced by this check
while the file is read, so no ``DecompressionBombWarning`` passes silently.
Swapping that global holds a module lock, so reads through this module are
serialised across the threads of one process (DataLoader workers are separate
processes and unaffected).

``load_label_map`` reads a single-channel label map as (H, W) int64, keeping
palette *indices* (Pascal VOC annotations are palette PNGs whose indices are
the class ids) and never applying EXIF rotation.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from contextlib import contextmanager
from typing import Iterator, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview]

#: Default pixel limit: 250 megapixels (e.g. 15811 x 15811), about 750 MB as RGB.
DEFAULT_MAX_PIXELS = 250_000_000

_PIL_LIMIT_LOCK = threading.Lock()


class ImageReadError(ValueError):
    """An image or label map could not be decoded."""


class ImageTooLargeError(ImageReadError):
    """An image has more pixels than the allowed maximum."""


def _describe(source: ImageSource) -> str:
    """A short name of the source for error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f'<{len(source)} bytes in memory>'
    return os.fspath(source)


@contextmanager
def _without_pil_limit() -> Iterator[None]:
    """Disable PIL's global decompression-bomb limit; ``_open`` applies its own.

    PIL compares sizes with the global ``Image.MAX_IMAGE_PIXELS`` in ``Image.open``
    (and, for TIFF/GIF/WebP, again while decoding), warning above it and failing
    above twice it. ``_open`` enforces ``max_pixels`` itself, before decoding, so
    the global is set to ``None`` for the duration (callers hold
    ``_PIL_LIMIT_LOCK``) and any bomb warning still raised becomes an error.
    """
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


@contextmanager
def _open(source: ImageSource, max_pixels: int | None,
          decode: bool = True) -> Iterator[Image.Image]:
    """Open ``source`` with PIL, check its size and decode its pixels.

    Args:
        source: a path or the encoded bytes of an image.
        max_pixels: the largest allowed ``width * height``; ``None`` for no limit.
        decode: False reads the header only (format and size), no pixel.

    Yields:
        The opened and loaded PIL image (closed on exit).

    Raises:
        FileNotFoundError: the path does not exist.
        ImageTooLargeError: the image has more than ``max_pixels`` pixels.
        ImageReadError: the data cannot be identified or decoded.
    """
    name = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageReadError(f'cannot read image {name}: it is empty (0 bytes)')
        fp = io.BytesIO(bytes(source))
    else:
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f'image file not found: {path}')
        if os.path.isdir(path):
            raise ImageReadError(f'cannot read image {path}: it is a directory')
        if os.path.getsize(path) == 0:
            raise ImageReadError(f'cannot read image {path}: the file is empty (0 bytes)')
        fp = path
    with _PIL_LIMIT_LOCK, _without_pil_limit():
        try:
            img = Image.open(fp)
        except UnidentifiedImageError as err:
            raise ImageReadError(
                f'cannot read image {name}: not a recognised image format') from err
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageReadError(f'cannot read image {name}: {err}') from err
        try:
            width, height = img.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageTooLargeError(
                    f'image {name} is {width}x{height} = {width * height} pixels, more than '
                    f'max_pixels={max_pixels}; pass a larger max_pixels (or None) to the loader '
                    f'(e.g. LoadImageFromFile(max_pixels=...)) if this image is trusted')
            try:
                if decode:
                    img.load()
            except (OSError, SyntaxError, ValueError) as err:
                raise ImageReadError(f'cannot decode image {name} ({img.format}, {img.mode}, '
                                     f'{width}x{height}): {err}') from err
        except BaseException:
            img.close()
            raise
    try:
        yield img
    finally:
        img.close()


def _sixteen_bit_to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit data to 8 bits by the type range (``x >> 8``)."""
    return (np.clip(array.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)


#: EXIF tag of the orientation (1: upright).
EXIF_ORIENTATION = 0x0112
#: Bytes of RGB pixels converted per step by :func:`_to_rgb_array`.
RGB_BAND_BYTES = 16 << 20


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image of any mode to (H, W, 3) uint8 RGB."""
    mode = img.mode
    if mode == 'RGB':  # band by band into one writable array: no whole-image bytes copy
        width, height = img.size
        array = np.empty((height, width, 3), np.uint8)
        rows = max(1, RGB_BAND_BYTES // max(1, 3 * width))
        with _PIL_LIMIT_LOCK, _without_pil_limit():  # crop() checks the global limit too
            for top in range(0, height, rows):
                array[top:top + rows] = np.asarray(img.crop((0, top, width,
                                                             min(height, top + rows))))
        return array
    if mode in ('RGBA', 'RGBX', 'RGBa'):
        array = np.asarray(img)[..., :3]
    elif mode in ('L', 'LA', 'La'):
        grey = np.asarray(img)
        grey = grey[..., 0] if grey.ndim == 3 else grey
        array = np.repeat(grey[..., None], 3, axis=2)
    elif mode.startswith('I;16') or mode == 'I':
        grey = _sixteen_bit_to_uint8(np.asarray(img))
        array = np.repeat(grey[..., None], 3, axis=2)
    elif mode == 'F':
        grey = (np.clip(np.nan_to_num(np.asarray(img, dtype=np.float64)), 0.0, 1.0) * 255.0)
        array = np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=2)
    else:  # '1', 'P', 'PA', 'CMYK', 'YCbCr', 'LAB', 'HSV', ...
        array = np.asarray(img.convert('RGB'))
    return np.ascontiguousarray(array, dtype=np.uint8)


def load_image(source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file (or its encoded bytes) as RGB.

    Args:
        source: path or encoded bytes of the image.
        max_pixels: refuse images with more than this many pixels (``None``: no limit).

    Returns:
        (H, W, 3) uint8 array in RGB order, EXIF orientation applied.

    Raises:
        FileNotFoundError: the path does not exist.
        ImageTooLargeError: the image exceeds ``max_pixels``.
        ImageReadError: the data is not a decodable image.
    """
    with _open(source, max_pixels) as img:
        try:
            # upright already (the usual case): no transposed copy of the decoded pixels
            upright = img.getexif().get(EXIF_ORIENTATION, 1) in (1, None)
            oriented = img if upright else ImageOps.exif_transpose(img)
        except Exception as err:  # malformed EXIF must not hide the pixels
            warnings.warn(f'ignoring unreadable EXIF data of {_describe(source)}: {err}')
            oriented = img
        return _to_rgb_array(oriented if oriented is not None else img)


def check_image(source: ImageSource,
                max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Read only the header of an image: its (width, height), before any model is built.

    Catches files that are no image, unknown formats and oversized images in milliseconds;
    data corrupted after the header is found when :func:`load_image` decodes it.

    Raises:
        FileNotFoundError, ImageTooLargeError, ImageReadError: as :func:`load_image`.
    """
    with _open(source, max_pixels, decode=False) as img:
        return img.size


def load_label_map(source: ImageSource,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read a single-channel label map, keeping stored values (palette indices).

    Args:
        source: path or encoded bytes of a PNG/TIFF label map.
        max_pixels: refuse maps with more than this many pixels (``None``: no limit).

    Returns:
        (H, W) int64 array of the stored values: palette indices for ``P``
        images, raw values for ``L`` / ``I;16`` / ``I`` images. An ``RGB`` map
        is accepted only when its three channels are equal.

    Raises:
        ImageReadError: the file cannot be decoded or is a colour-coded map.
    """
    with _open(source, max_pixels) as img:
        mode = img.mode
        if mode in ('P', 'L', 'I', 'I;16', 'I;16B', 'I;16L', 'I;16N', '1'):
            return np.asarray(img).astype(np.int64)
        if mode in ('PA', 'LA'):
            return np.asarray(img.getchannel(0)).astype(np.int64)
        if mode in ('RGB', 'RGBA'):
            rgb = np.asarray(img)[..., :3]
            if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all():
                return rgb[..., 0].astype(np.int64)
        raise ImageReadError(
            f'label map {_describe(source)} has mode {mode!r}: expected a single-channel '
            f'(palette or grey) image whose values are class ids; convert colour-coded '
            f'maps to class ids first')
