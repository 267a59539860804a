"""Masks decoded inside their box only (``rle_to_crop``): equal to the full decode, and the
polygons every format writes from the crop equal those of the full-size mask."""
from __future__ import annotations

import numpy as np
import pytest

from ovperception.annotation.formats.yolo import largest_contour
from ovperception.annotation.records import ObjectAnnotation
from ovperception.utils.annotations import (crop_to_polygons, mask_to_polygons, mask_to_rle,
                                            rle_run_lengths, rle_to_crop, rle_to_mask)


def _masks(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(40):
        height, width = rng.integers(1, 40, size=2)
        mask = np.zeros((height, width), bool)
        for _ in range(rng.integers(0, 4)):
            y, x = rng.integers(0, height), rng.integers(0, width)
            mask[y:y + rng.integers(1, 12), x:x + rng.integers(1, 12)] = True
        mask |= rng.random((height, width)) > 0.97  # specks, also on the image border
        masks.append(mask)
    masks.append(np.ones((7, 5), bool))  # every pixel, border to border
    masks.append(np.zeros((6, 9), bool))
    return masks


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_crop_equals_the_full_decode_and_polygons_agree(seed):
    for mask in _masks(seed):
        rle = mask_to_rle(mask)
        runs = rle_run_lengths(rle)
        assert runs.sum() == mask.size and (runs[1:] > 0).all()
        crop, x0, y0 = rle_to_crop(rle)
        rebuilt = np.zeros_like(mask)
        rebuilt[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        np.testing.assert_array_equal(rebuilt, rle_to_mask(rle))
        assert crop_to_polygons(crop, x0, y0) == mask_to_polygons(mask)
        if mask.any():
            assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
            full = largest_contour(np.pad(mask, 1))
            cropped = largest_contour(np.pad(crop, 1))
            np.testing.assert_array_equal(cropped + [x0, y0], full)
        from_array = ObjectAnnotation(0, (0, 0, 1, 1), mask=mask).mask_crop()
        np.testing.assert_array_equal(from_array[0], crop)
        assert from_array[1:] == ((x0, y0) if mask.any() else (0, 0))


def test_a_list_rle_gives_the_same_runs():
    assert rle_run_lengths({'size': [2, 2], 'counts': [1, 2, 1]}).tolist() == [1, 2, 1]
