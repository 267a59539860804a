"""PNG written a band of rows at a time: no whole-image copy in the encoder.

PIL's PNG encoder first copies an RGB array into its own image (4 bytes a pixel: 432 MB for
a 108-MP overlay) and the file into one ``bytes`` object. :func:`write_png` instead feeds
``zlib`` a band of scanlines at a time and writes the compressed IDAT chunks as they come,
so memory stays a few MB whatever the image size. The files are ordinary PNGs (filter type
0, no interlace), read back unchanged by PIL, OpenCV and every other decoder.
"""
from __future__ import annotations

import struct
import zlib
from typing import BinaryIO, Mapping

import numpy as np

from ovperception.utils.banded_image import BandedImage

SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: PNG colour type by the number of channels (grey, -, RGB, RGBA).
COLOR_TYPES = {1: 0, 3: 2, 4: 6}
#: Scanline bytes compressed per step.
BAND_BYTES = 4 << 20


def _chunk(handle: BinaryIO, kind: bytes, data: bytes) -> None:
    handle.write(struct.pack('>I', len(data)))
    handle.write(kind)
    handle.write(data)
    handle.write(struct.pack('>I', zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF))


def write_png(handle: BinaryIO, array: np.ndarray | BandedImage, text: Mapping[str, str] | None = None,
              level: int = 1) -> None:
    """Write ``array`` as a PNG to the binary file ``handle``.

    Args:
        array: (H, W) uint8 / uint16 grey, (H, W, 3) uint8 RGB or (H, W, 4) uint8 RGBA;
            a ``BandedImage`` is read a band of rows at a time.
        text: ``tEXt`` chunks (Latin-1 keys and values), e.g. the output tag.
        level: zlib compression level.
    """
    pixels = array if array.ndim == 3 else array[..., None]
    height, width, channels = pixels.shape
    if channels not in COLOR_TYPES or pixels.dtype not in (np.uint8, np.uint16) or (
            pixels.dtype == np.uint16 and channels != 1):
        raise ValueError(f'cannot write a {array.shape} {array.dtype} array as a PNG')
    depth = 8 * pixels.dtype.itemsize
    handle.write(SIGNATURE)
    _chunk(handle, b'IHDR', struct.pack('>IIBBBBB', width, height, depth,
                                        COLOR_TYPES[channels], 0, 0, 0))
    for key, value in (text or {}).items():
        _chunk(handle, b'tEXt', key.encode('latin-1') + b'\0' + value.encode('latin-1'))
    line = width * channels * pixels.dtype.itemsize
    rows_per_band = max(1, BAND_BYTES // max(1, line))
    compressor = zlib.compressobj(level)
    for start in range(0, height, rows_per_band):
        band = pixels[start:start + rows_per_band].astype(pixels.dtype.newbyteorder('>'))
        scanlines = np.zeros((band.shape[0], line + 1), np.uint8)  # filter byte 0: none
        scanlines[:, 1:] = band.reshape(band.shape[0], -1).view(np.uint8)
        data = compressor.compress(scanlines.tobytes())
        if data:
            _chunk(handle, b'IDAT', data)
    _chunk(handle, b'IDAT', compressor.flush())
    _chunk(handle, b'IEND', b'')
