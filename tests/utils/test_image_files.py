"""The one list of image file endings (utils/image_files) and the readers that use it:
folder walks, the anomaly and CountBench folders, the web app's examples."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ovperception.datasets import FolderAnomalyDataset
from ovperception.datasets.countbench import CountBenchDataset
from ovperception.utils.image_files import (IMAGE_SUFFIXES, find_images, image_names,
                                            is_image_name)

# every ending in any case; those outside the list, hidden files and other files are not
IMAGES = ['a.jpg', 'b.JPEG', 'c.Png', 'd.ppm', 'e.BMP', 'f.pgm', 'g.tif', 'h.TIFF', 'i.webp']
OTHERS = ['.hidden.png', 'notes.txt', 'clip.gif', 'k.png.json']


def test_every_suffix_is_one_pillow_reads_into_rgb(tmp_path) -> None:
    from ovperception.utils.image_io import load_image
    for suffix in IMAGE_SUFFIXES:
        path = str(tmp_path / f'x{suffix}')
        Image.fromarray(np.full((3, 4, 3), 9, np.uint8)).save(path)
        assert load_image(path).shape == (3, 4, 3), suffix


def test_names_match_in_any_case_and_hidden_files_are_skipped(tmp_path) -> None:
    for name in IMAGES + OTHERS:
        (tmp_path / name).write_bytes(b'')
    assert [n for n in IMAGES + OTHERS if is_image_name(n)] == IMAGES
    assert image_names(str(tmp_path)) == sorted(IMAGES)
    assert [os.path.basename(p) for p in find_images(str(tmp_path))] == sorted(IMAGES)
    assert is_image_name('x.JPG', ('.jpg',)) and not is_image_name('x.png', ('.jpg',))


def test_anomaly_folders_take_every_image_suffix_in_any_case(tmp_path) -> None:
    """FolderAnomalyDataset listed '.png .jpg .jpeg .bmp .JPG .PNG' only: 'x.Jpeg', 'x.tif'
    and 'x.webp' were left out."""
    names = ['g0.png', 'g1.Jpeg', 'g2.tif', 'g3.webp', 'g4.JPG']
    (tmp_path / 'good').mkdir()
    for name in names:
        Image.fromarray(np.full((8, 8, 3), 50, np.uint8)).save(tmp_path / 'good' / name)
    dataset = FolderAnomalyDataset(data_root=str(tmp_path), category='screw', lazy_init=False)
    assert sorted(os.path.basename(r['img_path']) for r in dataset.load_data_list()) == sorted(
        names)


def test_countbench_finds_an_index_image_of_any_suffix_and_case(tmp_path) -> None:
    """CountBench tried '<index>' + '.png .jpg .jpeg .bmp .JPG .PNG': '1.webp', '2.Jpeg' and
    '3.tiff' counted as missing."""
    (tmp_path / 'images').mkdir()
    records = [dict(text=f'{word} cats', number=n) for word, n in
               (('two', 2), ('three', 3), ('four', 4), ('five', 5))]
    (tmp_path / 'CountBench.json').write_text(json.dumps(records))
    for name in ('0.jpg', '1.webp', '2.Jpeg', '3.tiff'):
        Image.fromarray(np.full((8, 8, 3), 50, np.uint8)).save(tmp_path / 'images' / name)
    dataset = CountBenchDataset(data_root=str(tmp_path), test_mode=True)
    assert [os.path.basename(dataset.get_data_info(i)['img_path']) for i in range(4)] == [
        '0.jpg', '1.webp', '2.Jpeg', '3.tiff']


def test_web_app_examples_use_the_same_list(tmp_path) -> None:
    pytest.importorskip('gradio')
    from ovperception.webapp.ui import example_images
    (tmp_path / 'sub').mkdir()
    for name in IMAGES + OTHERS:
        (tmp_path / 'sub' / name).write_bytes(b'')
    assert [os.path.basename(p) for p in example_images(str(tmp_path))] == sorted(IMAGES)
