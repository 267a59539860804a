"""Generated segmentation images with exact labels, for tests, CI and smoke runs.

Sample ``i`` of seed ``s`` is drawn from ``np.random.default_rng([s, i])``, so
it is identical whatever the order of access, the worker or the platform.
Class 0 is a textured grey background (noise + diagonal stripes); class
``k >= 1`` is one colour and one shape kind (square, circle, triangle), e.g.
``'red square'``, ``'green circle'``. Every sample contains class
``1 + i % (K - 1)`` drawn last (never occluded), so any ``K - 1`` consecutive
samples show every class.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ovperception.datasets.base import OVBaseDataset, parse_classnames
from ovperception.registry import DATASETS
from ovperception.utils.atomic import atomic_save_image, atomic_write_bytes

#: (name, RGB) of the object colours, in class order (class 1 takes the first).
COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ('red', (220, 30, 30)), ('green', (30, 200, 40)), ('blue', (30, 60, 220)),
    ('yellow', (235, 220, 30)), ('magenta', (220, 40, 200)), ('cyan', (40, 210, 220)),
    ('orange', (245, 140, 20)), ('purple', (120, 40, 170)), ('white', (250, 250, 250)),
    ('black', (10, 10, 10)), ('brown', (120, 70, 30)), ('pink', (250, 160, 190)),
    ('olive', (110, 120, 20)), ('navy', (20, 30, 110)), ('teal', (20, 120, 120)),
)
SHAPES: tuple[str, ...] = ('square', 'circle', 'triangle')
BACKGROUND_NAME = 'grey striped background'
MAX_CLASSES = len(COLOURS) + 1


def default_classnames(num_classes: int) -> list[str]:
    """``['grey striped background', 'red square', 'green circle', ...]``."""
    if not 2 <= num_classes <= MAX_CLASSES:
        raise ValueError(f'num_classes must be in [2, {MAX_CLASSES}], got {num_classes}')
    names = [BACKGROUND_NAME]
    for k in range(1, num_classes):
        names.append(f'{COLOURS[k - 1][0]} {SHAPES[(k - 1) % len(SHAPES)]}')
    return names


def synthetic_vocabulary(classnames: Sequence[str] | None, num_classes: int, num_samples: int,
                         owner: str,
                         default: Callable[[int], list[str]] = default_classnames) -> list[str]:
    """The class names of a synthetic dataset: ``classnames`` (validated) or ``default``.

    Raises:
        ValueError: not ``num_classes`` names, or a negative ``num_samples``.
        ClassnamesError: empty, blank or duplicate names.
    """
    vocabulary = (parse_classnames(classnames, f'{owner}(classnames=...)')
                  if classnames is not None else default(num_classes))
    if len(vocabulary) != num_classes:
        raise ValueError(f'{owner}: {len(vocabulary)} classnames for num_classes={num_classes}')
    if num_samples < 0:
        raise ValueError(f'num_samples must be >= 0, got {num_samples}')
    return vocabulary


def _draw_shape(label: np.ndarray, kind: str, cls: int, rng: np.random.Generator,
                min_size: int, max_size: int) -> None:
    """Paint one shape of class ``cls`` into ``label`` (H, W) uint8, in place."""
    height, width = label.shape
    size_h = int(rng.integers(min_size, max_size + 1))
    size_w = int(rng.integers(min_size, max_size + 1))
    top = int(rng.integers(0, max(height - size_h, 0) + 1))
    left = int(rng.integers(0, max(width - size_w, 0) + 1))
    if kind == 'square':
        label[top:top + size_h, left:left + size_w] = cls
    elif kind == 'circle':
        centre = (left + size_w // 2, top + size_h // 2)
        axes = (max(size_w // 2, 1), max(size_h // 2, 1))
        cv2.ellipse(label, centre, axes, 0, 0, 360, color=int(cls), thickness=-1)
    else:
        points = np.array([[left + size_w // 2, top], [left, top + size_h - 1],
                           [left + size_w - 1, top + size_h - 1]], dtype=np.int32)
        cv2.fillPoly(label, [points], color=int(cls))


def make_synthetic_sample(index: int, seed: int = 0, image_size: Sequence[int] = (64, 96),
                          num_classes: int = 4, min_shapes: int = 1,
                          max_shapes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Generate one image and its exact label map.

    Args:
        index: sample index (with ``seed``, fixes the content).
        seed: dataset seed.
        image_size: (H, W).
        num_classes: K, including the background class 0.
        min_shapes, max_shapes: number of shapes per image (the guaranteed
            class counts as one).

    Returns:
        ``(img, label)``: (H, W, 3) uint8 RGB and (H, W) int64 in [0, K).
    """
    if not 1 <= min_shapes <= max_shapes:
        raise ValueError(f'need 1 <= min_shapes <= max_shapes, got {min_shapes}, {max_shapes}')
    default_classnames(num_classes)  # validates num_classes
    height, width = int(image_size[0]), int(image_size[1])
    rng = np.random.default_rng([seed, index])
    min_size = max(3, min(height, width) // 6)
    max_size = max(min_size, min(height, width) // 2)
    label = np.zeros((height, width), dtype=np.uint8)
    count = int(rng.integers(min_shapes, max_shapes + 1))
    classes = [int(c) for c in rng.integers(1, num_classes, size=count - 1)]
    classes.append(1 + index % (num_classes - 1))  # drawn last: always visible
    for cls in classes:
        _draw_shape(label, SHAPES[(cls - 1) % len(SHAPES)], cls, rng, min_size, max_size)
    return paint_label_map(label, num_classes, rng), label.astype(np.int64)


def paint_label_map(label: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Render a class map as an image: striped noisy grey for 0, class colours with noise.

    Args:
        label: (H, W) integer class map with values in [0, num_classes).
        num_classes: K, including the background class 0.
        rng: generator the noise is drawn from (advanced in a fixed order).

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    height, width = label.shape
    yy, xx = np.mgrid[0:height, 0:width]
    stripes = ((xx + yy) // 4) % 2 * 24
    img = 110 + stripes[..., None] + rng.integers(-12, 13, size=(height, width, 1))
    img = np.repeat(img, 3, axis=2)
    for cls in range(1, num_classes):
        mask = label == cls
        if mask.any():
            noise = rng.integers(-10, 11, size=(int(mask.sum()), 3))
            img[mask] = np.asarray(COLOURS[cls - 1][1]) + noise
    return np.clip(img, 0, 255).astype(np.uint8)


@DATASETS.register_module()
class SyntheticSegDataset(OVBaseDataset):
    """In-memory dataset of generated images with exact labels.

    Samples carry the keys ``LoadImageFromFile`` + ``LoadSegAnnotations``
    produce (``img``, ``gt_seg_map``, ``ori_shape``, ``img_shape``,
    ``img_path`` = ``'synthetic_{index:06d}.png'``, ``seg_map_path=None``,
    ``classnames``), so the same pipelines run on it (the loaders pass
    in-memory arrays through).

    Args:
        num_samples: dataset length.
        image_size: (H, W) of every image.
        num_classes: K including the background (2 .. 16).
        classnames: vocabulary of K entries (default: colour + shape names).
        seed: generator seed.
        min_shapes, max_shapes: shapes per image.
        pipeline: transforms (configs or callables).
        **kwargs: forwarded to ``OVBaseDataset`` (``test_mode``, ``indices`` ...).
    """

    def __init__(self, num_samples: int = 8, image_size: Sequence[int] = (64, 96),
                 num_classes: int = 4, classnames: Sequence[str] | None = None, seed: int = 0,
                 min_shapes: int = 1, max_shapes: int = 3,
                 pipeline: Sequence[dict | Any] | None = None, **kwargs: Any) -> None:
        vocabulary = synthetic_vocabulary(classnames, num_classes, num_samples,
                                          'SyntheticSegDataset')
        self.num_samples = int(num_samples)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.num_classes = int(num_classes)
        self.seed = int(seed)
        self.min_shapes, self.max_shapes = int(min_shapes), int(max_shapes)
        make_synthetic_sample(0, self.seed, self.image_size, self.num_classes,
                              self.min_shapes, self.max_shapes)  # validate the arguments early
        super().__init__(classnames=vocabulary, pipeline=pipeline, **kwargs)
        self._metainfo.update(reduce_zero_label=False, ignore_index=255)

    def load_data_list(self) -> list[dict]:
        """One light record per sample; pixels are generated on access."""
        return [dict(img_path=f'synthetic_{i:06d}.png', seg_map_path=None, synthetic_index=i,
                     reduce_zero_label=False, seg_fields=['gt_seg_map'])
                for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        """The record of sample ``idx`` with its generated ``img`` and ``gt_seg_map``."""
        info = super().get_data_info(idx)
        img, label = make_synthetic_sample(info['synthetic_index'], self.seed, self.image_size,
                                           self.num_classes, self.min_shapes, self.max_shapes)
        info.update(img=img, gt_seg_map=label, ori_shape=img.shape[:2], img_shape=img.shape[:2])
        return info


def write_synthetic_folder(out_dir: str | os.PathLike, num_samples: int = 4,
                           image_size: Sequence[int] = (64, 96), num_classes: int = 4,
                           seed: int = 0) -> dict[str, Any]:
    """Write generated images and label maps to a folder (for demos and CLI tests).

    Layout: ``out_dir/images/synthetic_XXXXXX.png`` (RGB),
    ``out_dir/annotations/synthetic_XXXXXX.png`` (grey, values = class ids) and
    ``out_dir/classnames.txt``. Load it back with
    ``FolderSegDataset(img_dir=..., seg_dir=..., img_suffix='.png',
    classnames_file=...)``.

    Returns:
        ``dict(img_dir, seg_dir, classnames_file, images, labels, classnames)``.
    """
    out_dir = os.fspath(out_dir)
    img_dir = os.path.join(out_dir, 'images')
    seg_dir = os.path.join(out_dir, 'annotations')
    classnames = default_classnames(num_classes)
    images, labels = [], []
    for i in range(num_samples):
        img, label = make_synthetic_sample(i, seed, image_size, num_classes)
        name = f'synthetic_{i:06d}.png'
        images.append(os.path.join(img_dir, name))
        labels.append(os.path.join(seg_dir, name))
        atomic_save_image(images[-1], img)
        atomic_save_image(labels[-1], label.astype(np.uint8))
    classnames_file = os.path.join(out_dir, 'classnames.txt')
    atomic_write_bytes(classnames_file, ('\n'.join(classnames) + '\n').encode('utf-8'))
    return dict(img_dir=img_dir, seg_dir=seg_dir, classnames_file=classnames_file,
                images=images, labels=labels, classnames=classnames)


__all__ = ['SyntheticSegDataset', 'make_synthetic_sample', 'write_synthetic_folder',
           'default_classnames', 'paint_label_map']
