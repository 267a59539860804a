"""Panoptic map encoding shared by datasets, models and metrics.

A panoptic map is an (H, W) int64 array with mmdet's encoding
``label + instance_id * INSTANCE_OFFSET``: things have instance ids 1, 2, ...; stuff has
instance id 0 (one segment per stuff class); ``VOID`` (-1) marks unlabelled pixels.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

INSTANCE_OFFSET = 1000
VOID = -1


def panoptic_labels(panoptic: np.ndarray) -> np.ndarray:
    """Class of every pixel of a panoptic map (VOID stays VOID)."""
    return np.where(panoptic >= 0, panoptic % INSTANCE_OFFSET, VOID)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """COCO panoptic PNG colours (H, W, 3) -> segment ids ``R + 256 G + 256^2 B``."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


def semantic_to_panoptic(label: np.ndarray, is_thing: Sequence[bool],
                         ignore_index: int = 255) -> np.ndarray:
    """Panoptic map from a semantic map: each 8-connected component of a thing class is an
    instance, each stuff class one segment; ``ignore_index`` -> VOID.

    Args:
        label: (H, W) class indices.
        is_thing: per class, whether it is a thing.
    """
    panoptic = np.full(label.shape, VOID, dtype=np.int64)
    for cls in np.unique(label):
        cls = int(cls)
        if cls == ignore_index:
            continue
        if cls >= len(is_thing):
            raise ValueError(f'label {cls} outside the {len(is_thing)} classes of is_thing')
        region = label == cls
        if not is_thing[cls]:
            panoptic[region] = cls
            continue
        count, components = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
        for instance in range(1, count):
            panoptic[components == instance] = cls + instance * INSTANCE_OFFSET
    return panoptic
