"""Image and label-map reading on real files of every awkward kind."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from ovperception.utils.image_io import (ImageReadError, ImageTooLargeError, load_image,
                                         load_label_map)


def _save(img: Image.Image, path, **kwargs) -> str:
    img.save(path, **kwargs)
    return str(path)


def test_rgb_png_roundtrip_and_bytes(tmp_path):
    array = np.random.randint(0, 256, (5, 7, 3), dtype=np.uint8)
    path = _save(Image.fromarray(array), tmp_path / 'rgb.png')
    out = load_image(path)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, array)
    with open(path, 'rb') as handle:
        np.testing.assert_array_equal(load_image(handle.read()), array)


def test_grey_is_repeated_over_channels(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = load_image(_save(Image.fromarray(grey), tmp_path / 'grey.png'))
    assert out.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], grey)


def test_rgba_alpha_is_dropped(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 50
    rgba[0, 0, 3] = 0  # fully transparent pixel keeps its colour
    rgba[1, 1, 3] = 255
    out = load_image(_save(Image.fromarray(rgba, 'RGBA'), tmp_path / 'rgba.png'))
    assert out.shape == (2, 2, 3)
    assert (out == np.array([200, 100, 50], dtype=np.uint8)).all()


def test_palette_image_is_expanded_to_colours(tmp_path):
    img = Image.fromarray(np.array([[0, 1], [2, 1]], dtype=np.uint8), 'P')
    img.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    out = load_image(_save(img, tmp_path / 'pal.png'))
    np.testing.assert_array_equal(out[0, 1], [255, 0, 0])
    np.testing.assert_array_equal(out[1, 0], [0, 0, 255])


@pytest.mark.parametrize('value, expected', [(0x1234, 0x12), (65535, 255), (255, 0)])
def test_16bit_png_scales_by_type_range(tmp_path, value, expected):
    array = np.full((3, 3), value, dtype=np.uint16)
    array[0, 0] = 0  # a per-image min-max would map `value` to 255
    out = load_image(_save(Image.fromarray(array), tmp_path / 'deep.png'))
    assert out.shape == (3, 3, 3)
    assert out[1, 1, 0] == expected and out[0, 0, 0] == 0


def test_16bit_big_endian_tiff(tmp_path):
    array = np.full((2, 3), 0xABCD, dtype='>u2')
    img = Image.fromarray(array)
    assert img.mode == 'I;16B'
    out = load_image(_save(img, tmp_path / 'deep.tif'))
    assert (out == 0xAB).all()


def test_cmyk_jpeg(tmp_path):
    img = Image.new('CMYK', (8, 6), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(_save(img, tmp_path / 'cmyk.jpg', quality=95))
    assert out.shape == (6, 8, 3)
    red, green, blue = out[3, 4].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_exif_orientation_is_applied(tmp_path):
    img = Image.fromarray(np.zeros((2, 4, 3), dtype=np.uint8))  # H=2, W=4
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = load_image(_save(img, tmp_path / 'rot.jpg', exif=exif))
    assert out.shape == (4, 2, 3)


def test_truncated_jpeg_raises_with_name(tmp_path):
    noise = np.random.randint(0, 256, (64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format='JPEG')
    path = tmp_path / 'cut.jpg'
    path.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])
    with pytest.raises(ImageReadError, match='cut.jpg'):
        load_image(path)


def test_text_file_raises(tmp_path):
    path = tmp_path / 'notes.png'
    path.write_text('not an image at all')
    with pytest.raises(ImageReadError, match='notes.png.*not a recognised image'):
        load_image(path)
    with pytest.raises(ImageReadError):
        load_label_map(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.png'):
        load_image(tmp_path / 'nope.png')


def test_too_large_names_size_and_limit(tmp_path):
    path = _save(Image.new('RGB', (10, 8)), tmp_path / 'big.png')
    with pytest.raises(ImageTooLargeError, match=r'10x8 = 80 pixels.*max_pixels=50'):
        load_image(path, max_pixels=50)
    assert load_image(path, max_pixels=80).shape == (8, 10, 3)


def test_pil_bomb_limit_replaced_not_silenced(tmp_path, monkeypatch):
    path = _save(Image.new('RGB', (10, 8)), tmp_path / 'img.png')
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 20)  # PIL would warn / fail on this image
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert load_image(path, max_pixels=None).shape == (8, 10, 3)
    assert Image.MAX_IMAGE_PIXELS == 20  # restored
    with pytest.raises(ImageTooLargeError):
        load_image(path, max_pixels=79)


def test_label_map_keeps_palette_indices(tmp_path):
    indices = np.array([[0, 1, 15], [255, 20, 0]], dtype=np.uint8)
    img = Image.fromarray(indices, 'P')
    img.putpalette(list(np.random.randint(0, 256, 768)))
    out = load_label_map(_save(img, tmp_path / 'voc.png'))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, indices)


def test_label_map_grey_and_16bit(tmp_path):
    grey = np.array([[0, 7], [170, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(load_label_map(_save(Image.fromarray(grey), tmp_path / 'g.png')),
                                  grey)
    deep = np.array([[0, 300], [1000, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(load_label_map(_save(Image.fromarray(deep), tmp_path / 'd.png')),
                                  deep)


def test_label_map_refuses_colour_coded_maps(tmp_path):
    colour = np.zeros((2, 2, 3), dtype=np.uint8)
    colour[0, 0] = (255, 0, 0)
    with pytest.raises(ImageReadError, match="mode 'RGB'"):
        load_label_map(_save(Image.fromarray(colour), tmp_path / 'c.png'))
    grey_rgb = np.repeat(np.array([[1, 2], [3, 4]], dtype=np.uint8)[..., None], 3, axis=2)
    np.testing.assert_array_equal(
        load_label_map(_save(Image.fromarray(grey_rgb), tmp_path / 'gr.png')), grey_rgb[..., 0])


def test_empty_file_is_reported_as_empty(tmp_path):
    """A 0-byte file is 'empty', not 'not a recognised image format' (issue #23, item 10)."""
    path = tmp_path / 'zero.png'
    path.write_bytes(b'')
    with pytest.raises(ImageReadError, match=r'zero.png: the file is empty \(0 bytes\)'):
        load_image(path)
    with pytest.raises(ImageReadError, match='empty'):
        load_image(b'')
