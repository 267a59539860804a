"""tools/convert_coco_object.py on synthetic COCO-Stuff maps."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from PIL import Image

_PATH = os.path.join(os.path.dirname(__file__), '..', '..', 'tools', 'convert_coco_object.py')
_SPEC = importlib.util.spec_from_file_location('convert_coco_object', _PATH)
cvt = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(cvt)


def test_id_tables():
    assert len(cvt.THING_IDS) == 80 and len(cvt.STUFF_IDS) == 91
    # raw value = COCO id - 1: person 0, stop sign (id 13) 12, toothbrush (id 90) 89,
    # banner (id 92) 91, wood (id 182) 181, unlabelled 255
    raw = np.array([[0, 12, 89], [91, 181, 255]])
    np.testing.assert_array_equal(cvt.raw_to_train_ids(raw), [[0, 11, 79], [80, 170, 255]])


def test_train_ids_to_object():
    train = np.array([0, 79, 80, 170, 255, 200])
    np.testing.assert_array_equal(cvt.train_ids_to_object(train), [1, 80, 0, 0, 0, 255])
    np.testing.assert_array_equal(cvt.train_ids_to_object(train, keep_unlabeled=True),
                                  [1, 80, 0, 0, 255, 255])


def test_cli_on_tiny_tree(tmp_path):
    ann = tmp_path / 'annotations' / 'val2017'
    ann.mkdir(parents=True)
    Image.fromarray(np.array([[0, 91], [255, 89]], np.uint8)).save(ann / '000000000139.png')
    assert cvt.main([str(tmp_path), '--splits', 'val2017']) == 0
    stuff = np.asarray(Image.open(ann / '000000000139_labelTrainIds.png'))
    obj = np.asarray(Image.open(ann / '000000000139_instanceTrainIds.png'))
    np.testing.assert_array_equal(stuff, [[0, 80], [255, 79]])
    np.testing.assert_array_equal(obj, [[1, 0], [0, 80]])
    assert cvt.convert_file(str(ann / '000000000139.png')) == []  # kept unless --overwrite
    assert cvt.main([str(tmp_path), '--splits', 'train2017']) == 1


def test_derives_object_from_train_ids(tmp_path):
    path = tmp_path / 'x_labelTrainIds.png'
    Image.fromarray(np.array([[5, 100]], np.uint8)).save(path)
    assert cvt.find_sources(str(tmp_path)) == [str(path)]
    written = cvt.convert_file(str(path), keep_unlabeled=True)
    assert written == [str(tmp_path / 'x_instanceTrainIds.png')]
    np.testing.assert_array_equal(np.asarray(Image.open(written[0])), [[6, 0]])
    with pytest.raises(ValueError):
        cvt.raw_to_train_ids(np.array([300]))
