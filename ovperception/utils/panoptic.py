"""Panoptic map encoding shared by datasets, models and metrics.

A panoptic map is an (H, W) int64 array with mmdet's encoding
``label + instance_id * INSTANCE_OFFSET``: things have instance ids 1, 2, ...; stuff has
instance id 0 (one segment per stuff class); ``VOID`` (-1) marks unlabelled pixels.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ovperception.utils.annotations import mask_to_bbox

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


def panoptic_to_instances(panoptic: np.ndarray, semantic: np.ndarray | None = None,
                          is_thing: Sequence[bool] | None = None) -> dict[str, np.ndarray]:
    """Thing instances of a panoptic map, as ground truth for a box / mask AP metric.

    Every segment with instance id >= 1 (``panoptic // INSTANCE_OFFSET``) is one instance;
    stuff segments and VOID are skipped. With ``semantic`` and ``is_thing``, the VOID pixels
    whose semantic class is a thing (COCO crowd regions, see ``decode_panoptic_png``) become
    one crowd instance per class (``ignore_flags`` True: it absorbs detections without
    counting, as ``iscrowd`` does in pycocotools).

    Args:
        panoptic: (H, W) panoptic map (``label + instance * INSTANCE_OFFSET``, VOID = -1).
        semantic: (H, W) class map of the same image (255 = unlabelled), optional.
        is_thing: per class, whether it is a thing (needed with ``semantic``).

    Returns:
        ``masks`` (N, H, W) bool, ``labels`` (N,) int64, ``bboxes`` (N, 4) float32 xyxy
        (exclusive right / bottom edge, like ``masks_to_boxes``), ``ignore_flags`` (N,) bool.
    """
    panoptic = np.asarray(panoptic)
    masks, labels, crowd = [], [], []
    for segment in np.unique(panoptic[panoptic >= INSTANCE_OFFSET]):
        masks.append(panoptic == segment)
        labels.append(int(segment) % INSTANCE_OFFSET)
        crowd.append(False)
    if semantic is not None and is_thing is not None:
        semantic = np.asarray(semantic)
        if semantic.shape != panoptic.shape:
            raise ValueError(f'semantic map {semantic.shape} and panoptic map '
                             f'{panoptic.shape} differ in size')
        void = panoptic == VOID
        for cls in np.unique(semantic[void]):
            if 0 <= int(cls) < len(is_thing) and is_thing[int(cls)]:
                masks.append(void & (semantic == cls))
                labels.append(int(cls))
                crowd.append(True)
    boxes = [mask_to_bbox(mask) for mask in masks]
    return dict(
        masks=np.stack(masks) if masks else np.zeros((0, *panoptic.shape), bool),
        labels=np.asarray(labels, dtype=np.int64),
        bboxes=np.asarray([[x, y, x + w, y + h] for x, y, w, h in boxes],
                          dtype=np.float32).reshape(-1, 4),
        ignore_flags=np.asarray(crowd, dtype=bool))
