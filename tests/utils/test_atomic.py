"""Atomic writers and the overwrite-input guard."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ovperception.utils.atomic import (OverwriteInputError, atomic_save_image,
                                       atomic_write_bytes, atomic_write_json, ensure_not_input)


def test_write_bytes_replaces_and_leaves_no_temp(tmp_path):
    path = tmp_path / 'sub' / 'out.bin'
    atomic_write_bytes(path, b'first')
    atomic_write_bytes(path, b'second')
    assert path.read_bytes() == b'second'
    assert os.listdir(path.parent) == ['out.bin']
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0o600


def test_failed_encode_leaves_previous_file(tmp_path):
    path = tmp_path / 'mask.png'
    atomic_save_image(path, np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError):
        atomic_save_image(path, np.zeros((2, 2), dtype=np.float32))
    assert np.asarray(Image.open(path)).shape == (2, 2)
    assert os.listdir(tmp_path) == ['mask.png']


def test_save_image_roundtrip(tmp_path):
    rgb = np.random.randint(0, 256, (4, 5, 3), dtype=np.uint8)
    atomic_save_image(tmp_path / 'a.png', rgb)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'a.png')), rgb)
    with pytest.raises(ValueError, match='extension'):
        atomic_save_image(tmp_path / 'a.unknown', rgb)


def test_write_json_handles_numpy(tmp_path):
    atomic_write_json(tmp_path / 'r.json', {'miou': np.float32(0.5), 'iou': np.arange(2)})
    assert json.loads((tmp_path / 'r.json').read_text()) == {'miou': 0.5, 'iou': [0, 1]}


def test_ensure_not_input(tmp_path):
    source = tmp_path / 'img.png'
    source.write_bytes(b'x')
    link = tmp_path / 'link.png'
    link.symlink_to(source)
    ensure_not_input(tmp_path / 'other.png', [source, None])
    for out in (source, link, tmp_path / '.' / 'img.png'):
        with pytest.raises(OverwriteInputError, match='overwrite the input'):
            ensure_not_input(out, [None, source])
