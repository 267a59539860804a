"""The banded PNG writer: files that PIL and OpenCV read back unchanged, with the output tag,
and the path atomic_save_image takes for large images."""
from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from ovperception.utils import atomic
from ovperception.utils.atomic import (OUTPUT_TAG_KEY, atomic_save_image, is_tagged_output,
                                       tag_png_outputs)
from ovperception.utils.png_stream import write_png


@pytest.mark.parametrize('shape,dtype', [((37, 53), np.uint8), ((37, 53), np.uint16),
                                         ((37, 53, 3), np.uint8), ((37, 53, 4), np.uint8)])
def test_pil_and_opencv_read_back_the_same_pixels(shape, dtype, monkeypatch):
    monkeypatch.setattr('ovperception.utils.png_stream.BAND_BYTES', 500)  # many bands
    array = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    buffer = io.BytesIO()
    write_png(buffer, array, {'key': 'value'})
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        assert image.info['key'] == 'value'
        decoded = np.asarray(image)
    assert decoded.shape == array.shape and np.array_equal(decoded.astype(dtype), array)
    flags = cv2.IMREAD_UNCHANGED
    by_cv2 = cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), flags)
    if array.ndim == 3:
        by_cv2 = cv2.cvtColor(by_cv2, cv2.COLOR_BGR2RGB if shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    assert by_cv2.dtype == dtype and np.array_equal(by_cv2, array)


def test_large_images_are_streamed_tagged_and_equal(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, 'LARGE_PNG_VALUES', 1000)
    streamed = []
    real = atomic.write_png
    monkeypatch.setattr(atomic, 'write_png', lambda *a, **k: streamed.append(1) or real(*a, **k))
    array = np.random.default_rng(1).integers(0, 255, (60, 70, 3), dtype=np.uint8)
    path = tmp_path / 'big.png'
    with tag_png_outputs('run-1'):
        atomic_save_image(path, array)
    assert streamed and is_tagged_output(path)
    with Image.open(path) as image:
        assert image.info[OUTPUT_TAG_KEY] == 'run-1'
        assert np.array_equal(np.asarray(image), array)
    atomic_save_image(tmp_path / 'small.png', array[:10, :10])  # 300 values: PIL
    assert len(streamed) == 1


def test_unsupported_arrays_are_refused():
    with pytest.raises(ValueError, match='cannot write'):
        write_png(io.BytesIO(), np.zeros((4, 4, 3), np.uint16))
