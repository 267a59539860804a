"""Generated detection images with exact boxes and instance masks (tests, CI, smoke runs).

Every object sits in its own cell of a ``grid`` over the image, so objects never
overlap and each box is the tight box of a fully visible shape. Colours, shapes,
texture and class names are those of :mod:`ovperception.datasets.synthetic`:
object class ``k`` (0-based) is segmentation class ``k + 1`` (``'red square'``,
``'green circle'`` ...); the striped grey background is not a detection class.
Sample ``i`` of seed ``s`` is drawn from ``np.random.default_rng([s, i])``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ovperception.datasets.base import OVBaseDataset
from ovperception.datasets.synthetic import (SHAPES, _draw_shape, default_classnames,
                                             paint_label_map, synthetic_vocabulary)
from ovperception.registry import DATASETS


def synthetic_detection_classnames(num_classes: int) -> list[str]:
    """The K object classes: ``['red square', 'green circle', ...]``."""
    return default_classnames(num_classes + 1)[1:]


def mask_to_xyxy(mask: np.ndarray) -> np.ndarray:
    """Tight continuous box ``[x1, y1, x2, y2]`` covering the pixels of a non-empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


def make_synthetic_detection_sample(index: int, seed: int = 0,
                                    image_size: Sequence[int] = (64, 96), num_classes: int = 3,
                                    grid: Sequence[int] = (2, 3), min_objects: int = 1,
                                    max_objects: int = 3) -> dict[str, np.ndarray]:
    """One image with its exact instances.

    Args:
        index, seed: fix the content.
        image_size: (H, W).
        num_classes: K object classes (1 .. 15).
        grid: (rows, cols) cells; each object lies inside one cell.
        min_objects, max_objects: objects per image (at most rows * cols).

    Returns:
        ``img`` (H, W, 3) uint8 RGB, ``bboxes`` (N, 4) float32 xyxy, ``labels`` (N,)
        int64 in [0, K), ``masks`` (N, H, W) bool. Class ``index % K`` is always present.
    """
    rows, cols = int(grid[0]), int(grid[1])
    if not 1 <= min_objects <= max_objects <= rows * cols:
        raise ValueError(f'need 1 <= min_objects <= max_objects <= {rows * cols} cells, got '
                         f'{min_objects}, {max_objects}')
    synthetic_detection_classnames(num_classes)  # validates num_classes
    height, width = int(image_size[0]), int(image_size[1])
    cell_h, cell_w = height // rows, width // cols
    if min(cell_h, cell_w) < 6:
        raise ValueError(f'image {height}x{width} is too small for a {rows}x{cols} grid')
    rng = np.random.default_rng([seed, index])
    count = int(rng.integers(min_objects, max_objects + 1))
    cells = rng.permutation(rows * cols)[:count]
    labels = [int(c) for c in rng.integers(0, num_classes, size=count - 1)] + [index % num_classes]
    label_map = np.zeros((height, width), dtype=np.uint8)
    masks = []
    min_size = max(3, min(cell_h, cell_w) // 2)
    for cell, label in zip(cells, labels):
        cell_map = np.zeros((cell_h, cell_w), dtype=np.uint8)
        _draw_shape(cell_map, SHAPES[label % len(SHAPES)], 1, rng, min_size,
                    min(cell_h, cell_w) - 2)
        top, left = (cell // cols) * cell_h, (cell % cols) * cell_w
        mask = np.zeros((height, width), dtype=bool)
        mask[top:top + cell_h, left:left + cell_w] = cell_map > 0
        label_map[mask] = label + 1
        masks.append(mask)
    img = paint_label_map(label_map, num_classes + 1, rng)
    return dict(img=img, bboxes=np.stack([mask_to_xyxy(m) for m in masks]),
                labels=np.asarray(labels, dtype=np.int64), masks=np.stack(masks))


@DATASETS.register_module()
class SyntheticDetDataset(OVBaseDataset):
    """In-memory detection dataset of generated shapes with exact boxes and masks.

    Samples carry what ``LoadImageFromFile`` + ``LoadDetAnnotations`` produce
    (``img``, ``gt_bboxes`` (N, 4) float32 xyxy, ``gt_bboxes_labels`` (N,) int64,
    ``gt_ignore_flags`` (N,) bool, ``gt_masks`` (N, H, W) bool, ``img_id``,
    ``ori_shape``, ``img_shape``, ``classnames``), so detection pipelines run on it.

    Args:
        num_samples: dataset length.
        image_size: (H, W).
        num_classes: K object classes.
        classnames: K vocabulary entries (default colour + shape names).
        seed: generator seed.
        grid, min_objects, max_objects: see :func:`make_synthetic_detection_sample`.
        pipeline: transforms.
        **kwargs: forwarded to ``OVBaseDataset``.
    """

    def __init__(self, num_samples: int = 8, image_size: Sequence[int] = (64, 96),
                 num_classes: int = 3, classnames: Sequence[str] | None = None, seed: int = 0,
                 grid: Sequence[int] = (2, 3), min_objects: int = 1, max_objects: int = 3,
                 pipeline: Sequence[dict | Any] | None = None, **kwargs: Any) -> None:
        vocabulary = synthetic_vocabulary(classnames, num_classes, num_samples,
                                          'SyntheticDetDataset', synthetic_detection_classnames)
        self.num_samples = int(num_samples)
        self.options = dict(seed=int(seed), image_size=(int(image_size[0]), int(image_size[1])),
                            num_classes=int(num_classes), grid=tuple(grid),
                            min_objects=int(min_objects), max_objects=int(max_objects))
        make_synthetic_detection_sample(0, **self.options)  # validate the arguments early
        super().__init__(classnames=vocabulary, pipeline=pipeline, **kwargs)

    def load_data_list(self) -> list[dict]:
        return [dict(img_path=f'synthetic_det_{i:06d}.png', img_id=i + 1, synthetic_index=i)
                for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        """The record of sample ``idx`` with its generated image and instances."""
        info = super().get_data_info(idx)
        sample = make_synthetic_detection_sample(info['synthetic_index'], **self.options)
        img = sample['img']
        info.update(img=img, gt_bboxes=sample['bboxes'], gt_bboxes_labels=sample['labels'],
                    gt_ignore_flags=np.zeros(len(sample['labels']), dtype=bool),
                    gt_masks=sample['masks'], ori_shape=img.shape[:2], img_shape=img.shape[:2])
        return info


__all__ = ['SyntheticDetDataset', 'make_synthetic_detection_sample',
           'synthetic_detection_classnames', 'mask_to_xyxy']
