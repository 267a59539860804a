"""Overlays on odd inputs (issue 17): extreme aspect ratios, nothing found, many overlapping
detections."""
from __future__ import annotations

import time

import numpy as np

from ovperception.visualization import draw_instances, draw_sem_seg


def test_extreme_aspect_ratio_overlay_keeps_the_input_size_plus_a_legend_strip():
    image = np.full((3, 5000, 3), 128, np.uint8)
    labels = np.zeros((3, 5000), np.int64)
    labels[:, 2500:] = 1
    started = time.perf_counter()
    overlay = draw_sem_seg(image, labels, ['left', 'right'])
    assert time.perf_counter() - started < 5
    assert overlay.shape[1] == 5000  # not upscaled (was 258 x 430000)
    assert overlay.shape[0] * overlay.shape[1] <= 5000 * 64  # input + one legend strip


def test_big_images_are_not_upscaled_and_stay_within_1_5x_their_pixels():
    image = np.full((1200, 1600, 3), 90, np.uint8)
    labels = np.zeros((1200, 1600), np.int64)
    labels[600:] = 1
    overlay = draw_sem_seg(image, labels, ['ground', 'sky'])
    assert overlay.shape[0] >= 1200 and overlay.shape[1] >= 1600
    assert overlay.size <= 1.5 * image.size


def test_an_overlay_with_nothing_found_says_so():
    image = np.full((300, 400, 3), 200, np.uint8)
    empty = draw_sem_seg(image, np.full((300, 400), 255, np.int64), ['cat', 'dog'])
    assert empty.shape[0] > 300  # a header line was added
    assert not np.array_equal(empty[:empty.shape[0] - 300], np.full_like(
        empty[:empty.shape[0] - 300], 200))


def test_forty_near_full_image_detections_keep_the_photo_visible_and_tags_apart():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    n = 40
    boxes = np.array([[i % 3, i % 2, 639 - i % 4, 479 - i % 5] for i in range(n)], np.float64)
    masks = np.ones((n, 480, 640), bool)
    overlay = draw_instances(image, boxes, np.arange(n) % 5, np.linspace(0.3, 0.9, n),
                             [f'class{i}' for i in range(5)], masks=masks)
    # the photo shows through: the overlay still correlates with the image
    inner = (slice(100, 380), slice(100, 540))
    correlation = np.corrcoef(image[inner].astype(float).ravel(),
                              overlay[inner].astype(float).ravel())[0, 1]
    assert correlation > 0.8
    # tags are not all stacked at the top-left corner: without masks on a black image, tag
    # backgrounds (class colours) appear far down the left edge, not only in the first rows
    plain = draw_instances(np.zeros_like(image), boxes, np.arange(n) % 5,
                           np.linspace(0.3, 0.9, n), [f'class{i}' for i in range(5)])
    # (rows 30..459 between the boxes' top and bottom edges; before: all tags in rows 0..22)
    tag_rows = np.nonzero(plain[30:460, 12:60].any(axis=(1, 2)))[0]
    assert len(tag_rows) > 100
