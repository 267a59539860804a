"""Band-by-band per-class RLE (issue 32 item 3): equal to the full-mask encoders for every
band width, including bands of one column and masks that cross band edges."""
from __future__ import annotations

import numpy as np
import pytest

from ovperception.utils.annotations import mask_to_bbox, mask_to_rle
from ovperception.utils.band_rle import class_region, column_bands, label_counts


def _maps() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    blocky = np.kron(rng.integers(0, 4, (12, 17)), np.ones((5, 5), np.uint8))[:57, :83]
    blocky[:3] = 255
    return [rng.integers(0, 3, (31, 45)).astype(np.uint8), blocky.astype(np.uint8),
            rng.integers(0, 2, (1, 9)).astype(np.int64), np.zeros((6, 1), np.int16)]


@pytest.mark.parametrize('band_values', [1, 7, 100, 1 << 22])
def test_class_region_equals_the_full_mask_encoders(band_values):
    for labels in _maps():
        for value in (0, 1, 2, 3, 255):
            mask = labels == value
            region = class_region(labels, value, band_values)
            assert region.rle == mask_to_rle(mask)
            assert region.bbox == mask_to_bbox(mask)
            assert region.area == int(mask.sum())
        values, numbers = np.unique(labels, return_counts=True)
        assert label_counts(labels, band_values) == dict(zip(values.tolist(), numbers.tolist()))


def test_column_bands_cover_every_column_once():
    bands = column_bands(10, 23, 40)  # 4 columns a band
    assert [(band.start, band.stop) for band in bands] == [(0, 4), (4, 8), (8, 12), (12, 16),
                                                           (16, 20), (20, 23)]
    assert column_bands(1000, 3, 5) == [slice(0, 1), slice(1, 2), slice(2, 3)]


@pytest.mark.parametrize('band_values', [1, 13, 1 << 22])
def test_label_counts_counts_negative_and_large_values_too(band_values):
    """Bands of small non-negative labels take np.bincount, others np.unique: same counts."""
    rng = np.random.default_rng(1)
    for labels in (rng.integers(-3, 4, (9, 11)), rng.integers(0, 1 << 40, (5, 7)),
                   np.array([[70000, 0], [70000, 255]], np.int32), np.zeros((0, 4), np.uint8),
                   rng.integers(0, 9, (6, 5)).astype(np.uint64)):
        values, numbers = np.unique(labels, return_counts=True)
        assert label_counts(labels, band_values) == dict(zip(values.tolist(), numbers.tolist()))
