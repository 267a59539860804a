"""Generated dot images with exact object counts, for tests, CI and smoke runs.

Sample ``i`` of seed ``s`` comes from ``np.random.default_rng([s, i])``. Each image shows
a textured dark background with ``n ~ U{min_count .. max_count}`` filled discs per
counted colour (``'red dot'`` ...) plus optional distractor discs of other colours that
are not annotated. Discs never overlap (rejection sampling), so the points (disc
centres, xy pixels) are the exact answer; a disc that finds no free place is not drawn
and not annotated.
"""
from __future__ import annotations

from typing import Any, Sequence

import cv2
import numpy as np

from ovperception.datasets.base import OVBaseDataset
from ovperception.datasets.synthetic import COLOURS
from ovperception.registry import DATASETS

_RGB = dict(COLOURS)


def make_dot_image(index: int, seed: int = 0, image_size: Sequence[int] = (64, 64),
                   colours: Sequence[str] = ('red',), min_count: int = 0, max_count: int = 10,
                   radius: int = 3, distractor_colours: Sequence[str] = (),
                   max_distractors: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image, its dot centres and their class indices.

    Args:
        index, seed: fix the content.
        image_size: (H, W).
        colours: counted colours; class k is ``colours[k]``.
        min_count, max_count: dots per counted colour.
        radius: disc radius in pixels.
        distractor_colours: colours drawn but never annotated.
        max_distractors: up to this many distractor discs.

    Returns:
        ``(img (H, W, 3) uint8 RGB, points (N, 2) float32 xy, labels (N,) int64)``.
    """
    unknown = [c for c in (*colours, *distractor_colours) if c not in _RGB]
    if unknown:
        raise ValueError(f'unknown colours {unknown}; choose from {sorted(_RGB)}')
    if not 0 <= min_count <= max_count:
        raise ValueError(f'need 0 <= min_count <= max_count, got {min_count}, {max_count}')
    height, width = int(image_size[0]), int(image_size[1])
    rng = np.random.default_rng([seed, index])
    wanted = [(k, colour) for k, colour in enumerate(colours)
              for _ in range(int(rng.integers(min_count, max_count + 1)))]
    wanted += [(-1, c) for c in rng.choice(list(distractor_colours) or ['red'],
                                           size=int(rng.integers(0, max_distractors + 1))
                                           if distractor_colours else 0)]
    yy, xx = np.mgrid[0:height, 0:width]
    img = 40 + ((xx // 3 + yy // 5) % 2) * 10 + rng.integers(-8, 9, size=(height, width))
    img = np.ascontiguousarray(np.repeat(np.clip(img, 0, 255)[..., None], 3, axis=2),
                               dtype=np.uint8)
    centres: list[tuple[float, float]] = []
    points, labels = [], []
    low = radius
    for label, colour in wanted:
        for _ in range(50):
            x = float(rng.uniform(low, max(width - radius, low + 1e-3)))
            y = float(rng.uniform(low, max(height - radius, low + 1e-3)))
            if all((x - cx) ** 2 + (y - cy) ** 2 > (2 * radius + 2) ** 2 for cx, cy in centres):
                break
        else:
            continue
        centres.append((x, y))
        cv2.circle(img, (int(x), int(y)), radius, tuple(int(v) for v in _RGB[colour]), -1)
        if label >= 0:
            points.append((x, y))
            labels.append(label)
    return (img, np.asarray(points, np.float32).reshape(-1, 2),
            np.asarray(labels, np.int64).reshape(-1))


@DATASETS.register_module()
class SyntheticCountingDataset(OVBaseDataset):
    """In-memory dot images with exact point annotations (``'red dot'`` ...).

    Records carry ``img``, ``gt_points`` (N, 2) xy, ``gt_point_labels`` (N,),
    ``img_path`` = ``'dots_{index:06d}.png'``, ``ori_shape``, ``img_shape`` and the
    vocabulary ``[f'{colour} dot' ...]``, the keys the counting transforms read.

    Args:
        num_samples: dataset length.
        image_size, colours, min_count, max_count, radius, distractor_colours,
        max_distractors: see :func:`make_dot_image`.
        seed: generator seed.
        pipeline: transforms.
        **kwargs: forwarded to ``OVBaseDataset`` (``test_mode`` ...).
    """

    def __init__(self, num_samples: int = 16, image_size: Sequence[int] = (64, 64),
                 colours: Sequence[str] = ('red',), min_count: int = 0, max_count: int = 10,
                 radius: int = 3, distractor_colours: Sequence[str] = (),
                 max_distractors: int = 0, seed: int = 0,
                 pipeline: Sequence[dict | Any] | None = None, **kwargs: Any) -> None:
        self.num_samples, self.seed = int(num_samples), int(seed)
        self.options = dict(image_size=tuple(image_size), colours=tuple(colours),
                            min_count=min_count, max_count=max_count, radius=radius,
                            distractor_colours=tuple(distractor_colours),
                            max_distractors=max_distractors)
        make_dot_image(0, seed, **self.options)  # validates the options
        kwargs.setdefault('classnames', [f'{colour} dot' for colour in colours])
        super().__init__(pipeline=pipeline, serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        """One light record per sample; pixels are generated on access."""
        return [dict(img_path=f'dots_{i:06d}.png', synthetic_index=i)
                for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        """The record of sample ``idx`` with its generated image and points."""
        info = super().get_data_info(idx)
        img, points, labels = make_dot_image(info['synthetic_index'], self.seed, **self.options)
        info.update(img=img, gt_points=points, gt_point_labels=labels, ori_shape=img.shape[:2],
                    img_shape=img.shape[:2])
        return info


__all__ = ['SyntheticCountingDataset', 'make_dot_image']
