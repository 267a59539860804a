"""APRIL-GAN's training mosaic, as AdaCLIP trains with it (``BaseDataset.combine_img``).

With probability ``rate`` a training sample is replaced by four distinct random images of its
category (drawn from the dataset's ``category_pool``, normal and anomalous alike) pasted 2x2
on a canvas twice the first image's size (each at its own size, cut at the canvas), with
their masks pasted the same way. As released, the sample keeps its own image label
(``gt_label``), whatever the four images show.
"""
from __future__ import annotations

import random

import numpy as np

from ovperception.datasets.anomaly import LoadAnomalyMask
from ovperception.datasets.transforms import BaseTransform, LoadImageFromFile
from ovperception.registry import TRANSFORMS


def paste_2x2(parts: list[np.ndarray]) -> np.ndarray:
    """Four (H_i, W_i, ...) arrays on a (2 H_0, 2 W_0, ...) canvas, row by row."""
    height, width = parts[0].shape[:2]
    canvas = np.zeros((2 * height, 2 * width) + parts[0].shape[2:], dtype=parts[0].dtype)
    for index, part in enumerate(parts):
        top, left = (index // 2) * height, (index % 2) * width
        piece = part[:canvas.shape[0] - top, :canvas.shape[1] - left]
        canvas[top:top + piece.shape[0], left:left + piece.shape[1]] = piece
    return canvas


@TRANSFORMS.register_module()
class AnomalyMosaic(BaseTransform):
    """Replace a sample by a 2x2 mosaic of its category with probability ``rate``.

    Place it after ``LoadImageFromFile`` and ``LoadAnomalyMask``; the dataset must be built
    with ``category_pool=True`` (AdaCLIP's MVTec AD training: ``rate=0.2``; VisA: 0).

    Args:
        rate: probability of a mosaic (the release's ``aug_rate``).
        seed: seed of this transform's own generator (None: Python's global one, as the
            release).
    """

    def __init__(self, rate: float = 0.2, seed: int | None = None) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f'AnomalyMosaic rate must be in [0, 1], got {rate}')
        self.rate = float(rate)
        # None: Python's global generator, which mmengine seeds per dataloader worker (a
        # generator made here would be copied into every worker with the same state)
        self.rng = random.Random(seed) if seed is not None else random
        self.load_image, self.load_mask = LoadImageFromFile(), LoadAnomalyMask()

    def transform(self, results: dict) -> dict:
        if self.rate == 0 or self.rng.random() >= self.rate:
            return results
        pool = results.get('category_pool')
        if pool is None:
            raise ValueError('AnomalyMosaic needs the dataset built with category_pool=True')
        if len(pool) < 4:
            return results  # the release would fail; too few images for a mosaic
        loaded = [self.load_mask(self.load_image(dict(record)))
                  for record in self.rng.sample(pool, 4)]
        results['img'] = paste_2x2([r['img'] for r in loaded])
        results['gt_anomaly_mask'] = paste_2x2([r['gt_anomaly_mask'] for r in loaded])
        results['img_shape'] = results['ori_shape'] = results['img'].shape[:2]
        results['mosaic'] = True
        return results
