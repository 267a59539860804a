"""Synthetic dataset: deterministic, exact labels, every class shows up."""
from __future__ import annotations

import numpy as np
import pytest

from ovperception.datasets.synthetic import (COLOURS, SyntheticSegDataset, default_classnames,
                                             make_synthetic_sample)
from ovperception.registry import DATASETS


def test_deterministic_per_index_and_seed():
    a = SyntheticSegDataset(num_samples=4, seed=3)
    b = SyntheticSegDataset(num_samples=4, seed=3)
    for idx in (3, 0):  # order of access does not matter
        np.testing.assert_array_equal(a[idx]['img'], b[idx]['img'])
        np.testing.assert_array_equal(a[idx]['gt_seg_map'], b[idx]['gt_seg_map'])
    other = SyntheticSegDataset(num_samples=4, seed=4)
    assert not np.array_equal(a[0]['gt_seg_map'], other[0]['gt_seg_map'])


def test_labels_match_pixels_exactly():
    img, label = make_synthetic_sample(5, seed=1, image_size=(48, 64), num_classes=6)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert label.shape == (48, 64) and label.dtype == np.int64
    for cls in np.unique(label):
        pixels = img[label == cls].astype(int)
        if cls == 0:
            assert (np.abs(pixels[:, 0] - pixels[:, 1]) == 0).all()  # grey background
        else:
            assert (np.abs(pixels - np.array(COLOURS[cls - 1][1])) <= 10).all()


def test_every_class_appears_within_k_minus_one_samples():
    ds = SyntheticSegDataset(num_samples=5, num_classes=6)
    seen = set()
    for i in range(5):
        seen |= set(np.unique(ds[i]['gt_seg_map']).tolist())
    assert seen == set(range(6))


def test_keys_vocabulary_and_pipeline():
    ds = DATASETS.build(dict(type='SyntheticSegDataset', num_samples=2, image_size=(32, 40),
                             num_classes=3))
    sample = ds[1]
    assert sample['img_path'] == 'synthetic_000001.png' and sample['seg_map_path'] is None
    assert sample['ori_shape'] == (32, 40) == sample['img_shape']
    assert sample['classnames'] == ['grey striped background', 'red square', 'green circle']
    packed = SyntheticSegDataset(
        num_samples=1, pipeline=[dict(type='LoadImageFromFile'),
                                 dict(type='ResizeShortSide', short_side=32),
                                 dict(type='LoadSegAnnotations'), dict(type='PackOVInputs')])[0]
    assert packed['inputs'].shape == (3, 32, 48)
    assert packed['data_samples'].gt_sem_seg.data.shape == (1, 64, 96)


def test_argument_validation():
    assert len(set(default_classnames(16))) == 16
    with pytest.raises(ValueError, match='num_classes'):
        SyntheticSegDataset(num_classes=17)
    with pytest.raises(ValueError, match='2 classnames'):
        SyntheticSegDataset(num_classes=3, classnames=['a', 'b'])
    assert SyntheticSegDataset(num_classes=2, classnames=['floor', 'cube; box']).metainfo[
        'classes'] == ('floor', 'cube')
