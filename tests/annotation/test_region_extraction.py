"""Region extraction of label maps (the web app, the demo and annotate share it): one object
per connected piece, masks as RLE built from the piece's crop, specks dropped by a minimum
area scaled to the image, and memory bounded on large textured images."""
from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from ovperception.annotation.predictions import (MIN_AREA_FRACTION, region_min_area,
                                                 sample_to_objects)
from ovperception.structures import OVDataSample
from ovperception.utils.annotations import crop_to_rle, mask_to_rle


def textured_labels(height: int, width: int, classes: int = 3, seed: int = 0) -> np.ndarray:
    """(H, W) int64 label map of blobs of many sizes (upscaled noise, like a textured photo)."""
    rng = np.random.default_rng(seed)
    small = rng.random((height // 16, width // 16, classes)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).argmax(-1)


def seg_sample(labels: np.ndarray) -> OVDataSample:
    sample = OVDataSample(metainfo=dict(classnames=['a', 'b', 'c']))
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(labels[None]))
    return sample


def test_crop_rle_equals_the_full_mask_rle():
    rng = np.random.default_rng(1)
    for _ in range(200):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        y0, x0 = int(rng.integers(0, height)), int(rng.integers(0, width))
        h, w = int(rng.integers(1, height - y0 + 1)), int(rng.integers(1, width - x0 + 1))
        crop = rng.random((h, w)) < rng.random()
        full = np.zeros((height, width), bool)
        full[y0:y0 + h, x0:x0 + w] = crop
        assert crop_to_rle(crop, (x0, y0), (height, width)) == mask_to_rle(full)
    with pytest.raises(ValueError, match='does not fit'):
        crop_to_rle(np.ones((3, 3), bool), (8, 0), (10, 10))


def test_every_piece_is_an_object_with_its_exact_mask_and_box():
    labels = textured_labels(96, 128)
    objects, _ = sample_to_objects(seg_sample(labels), 'seg', labels.shape)
    assert region_min_area(labels.shape) == 1  # small images keep every piece
    union = np.full(labels.shape, -1)
    for obj in objects:
        mask = obj.mask
        assert mask.shape == labels.shape and (labels[mask] == obj.label).all()
        ys, xs = np.nonzero(mask)
        assert obj.bbox == (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)
        assert (union[mask] == -1).all()
        union[mask] = obj.label
    assert (union == labels).all()
    count = sum(cv2.connectedComponents((labels == k).astype(np.uint8), connectivity=8)[0] - 1
                for k in range(3))
    assert len(objects) == count


def test_specks_are_dropped_by_an_area_scaled_to_the_image():
    assert region_min_area((4000, 6000)) == int(4000 * 6000 * MIN_AREA_FRACTION) == 240
    assert region_min_area((4000, 6000), min_area=500) == 500
    labels = np.zeros((1000, 1000), np.int64)
    labels[100:103, 100:103] = 1   # 9 pixels: under 1e-5 of 1 MP = 10
    labels[500:504, 500:504] = 2   # 16 pixels: kept
    objects, _ = sample_to_objects(seg_sample(labels), 'seg', labels.shape)
    assert sorted(obj.label for obj in objects) == [0, 2]


def test_a_large_textured_image_stays_within_bounded_memory():
    labels = textured_labels(2000, 3000)  # 6 MP, thousands of pieces
    sample = seg_sample(labels)
    tracemalloc.start()
    try:
        objects, _ = sample_to_objects(sample, 'seg', labels.shape)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(objects) > 500
    # a full-size bool mask per piece would be > 500 x 6 MB; crops + RLE stay far below
    assert peak < 200 * 2**20, peak / 2**20
    assert all(obj._mask is None and obj.rle['size'] == [2000, 3000] for obj in objects)
