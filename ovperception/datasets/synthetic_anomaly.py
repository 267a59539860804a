"""Synthetic anomalies with exact masks: a woven surface with pasted textures or scratches.

Sample ``i`` of seed ``s`` is drawn from ``np.random.default_rng([s, i])``. Every
image is a normal "fabric" (warm grey weave + noise); anomalous ones carry one
defect, its mask exact by construction:

* ``'texture'``: an ellipse filled with a foreign, saturated noise texture;
* ``'scratch'``: a dark polyline 2..4 px wide.

Anomalous samples are spread evenly: sample ``i`` is anomalous when
``floor((i + 1) * r) > floor(i * r)`` for the anomaly ratio ``r`` (so any run of
``1 / r`` samples holds one).
"""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import cv2
import numpy as np

from ovperception.datasets.anomaly import AnomalyDataset
from ovperception.registry import DATASETS
from ovperception.utils.atomic import atomic_save_image

DEFECT_KINDS: tuple[str, ...] = ('texture', 'scratch')
SYNTHETIC_OBJECT = 'fabric'


def is_anomalous_index(index: int, anomaly_ratio: float) -> bool:
    """Whether sample ``index`` is anomalous for an even spread at ``anomaly_ratio``."""
    return math.floor((index + 1) * anomaly_ratio) > math.floor(index * anomaly_ratio)


def normal_surface(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8 woven surface (the normal appearance)."""
    yy, xx = np.mgrid[0:height, 0:width]
    period = 6.0
    weave = 14 * np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
    base = np.array([150, 140, 125], dtype=np.float64)
    img = base + weave[..., None] + rng.normal(0, 5, size=(height, width, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def paste_defect(img: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray:
    """Draw one defect of ``kind`` into ``img`` in place; return its (H, W) uint8 mask."""
    height, width = img.shape[:2]
    mask = np.zeros((height, width), dtype=np.uint8)
    short = min(height, width)
    if kind == 'texture':
        centre = (int(rng.integers(short // 6, width - short // 6)),
                  int(rng.integers(short // 6, height - short // 6)))
        axes = (int(rng.integers(short // 10, short // 5 + 1)),
                int(rng.integers(short // 10, short // 5 + 1)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
        colour = rng.integers(0, 256, size=3)
        colour[int(rng.integers(0, 3))] = 230  # saturated: clearly foreign
        texture = colour + rng.normal(0, 25, size=(height, width, 3))
        img[mask > 0] = np.clip(texture[mask > 0], 0, 255).astype(np.uint8)
    elif kind == 'scratch':
        points = np.stack([rng.integers(0, width, size=3),
                           rng.integers(0, height, size=3)], axis=1).astype(np.int32)
        cv2.polylines(mask, [points], False, 1, thickness=int(rng.integers(2, 5)))
        img[mask > 0] = np.clip(rng.normal(35, 8, size=(int(mask.sum()), 3)), 0,
                                255).astype(np.uint8)
    else:
        raise ValueError(f'unknown defect kind {kind!r}; choose from {DEFECT_KINDS}')
    return mask


def make_anomaly_sample(index: int, seed: int = 0, image_size: Sequence[int] = (64, 64),
                        anomaly_ratio: float = 0.5,
                        kinds: Sequence[str] = DEFECT_KINDS) -> tuple[np.ndarray, np.ndarray, str]:
    """One image, its exact mask and its defect kind (``'good'`` for normal images).

    Returns:
        ``(img, mask, kind)``: (H, W, 3) uint8 RGB, (H, W) uint8 {0, 1}, str.
    """
    if not 0.0 <= anomaly_ratio <= 1.0:
        raise ValueError(f'anomaly_ratio must be in [0, 1], got {anomaly_ratio}')
    height, width = int(image_size[0]), int(image_size[1])
    rng = np.random.default_rng([seed, index])
    img = normal_surface(rng, height, width)
    if not is_anomalous_index(index, anomaly_ratio):
        return img, np.zeros((height, width), dtype=np.uint8), 'good'
    kind = kinds[int(rng.integers(0, len(kinds)))]
    mask = paste_defect(img, rng, kind)
    return img, mask, kind


@DATASETS.register_module()
class SyntheticAnomalyDataset(AnomalyDataset):
    """In-memory synthetic anomalies (category ``'synthetic'``, object ``'fabric'``).

    Args:
        num_samples: dataset length.
        image_size: (H, W).
        anomaly_ratio: share of anomalous samples (0 for a normal-only train split).
        seed: generator seed.
        kinds: defect kinds to draw from.
        **kwargs: ``pipeline``, ``test_mode``, ``indices`` ...
    """

    def __init__(self, num_samples: int = 16, image_size: Sequence[int] = (64, 64),
                 anomaly_ratio: float = 0.5, seed: int = 0,
                 kinds: Sequence[str] = DEFECT_KINDS, **kwargs: Any) -> None:
        self.num_samples = int(num_samples)
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.anomaly_ratio = float(anomaly_ratio)
        self.seed = int(seed)
        self.kinds = tuple(kinds)
        make_anomaly_sample(0, self.seed, self.image_size, self.anomaly_ratio, self.kinds)
        super().__init__(categories=[SYNTHETIC_OBJECT], **kwargs)

    def load_data_list(self) -> list[dict]:
        return [dict(img_path=f'synthetic_anomaly_{i:06d}.png', mask_path=None,
                     category=SYNTHETIC_OBJECT, synthetic_index=i, seg_fields=[])
                for i in range(self.num_samples)]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        img, mask, kind = make_anomaly_sample(info['synthetic_index'], self.seed,
                                              self.image_size, self.anomaly_ratio, self.kinds)
        info.update(img=img, gt_anomaly_mask=mask, gt_label=int(kind != 'good'),
                    defect=kind, ori_shape=img.shape[:2], img_shape=img.shape[:2])
        return info


def write_mvtec_tree(root: str | os.PathLike, category: str = 'fabric', num_test: int = 6,
                     num_train: int = 3, image_size: Sequence[int] = (64, 64),
                     seed: int = 0) -> dict[str, Any]:
    """Write synthetic anomalies in the MVTec AD layout (demos, CLI and dataset tests).

    ``root/category/train/good/*.png``, ``root/category/test/{good,<kind>}/*.png`` and
    ``root/category/ground_truth/<kind>/*_mask.png`` (0 / 255).

    Returns:
        ``dict(root, category, train, test, masks)`` with the written paths.
    """
    root = os.fspath(root)
    written: dict[str, Any] = dict(root=root, category=category, train=[], test=[], masks=[])
    base = os.path.join(root, category)
    for i in range(num_train):
        img, _, _ = make_anomaly_sample(i, seed + 1, image_size, anomaly_ratio=0.0)
        path = os.path.join(base, 'train', 'good', f'{i:03d}.png')
        atomic_save_image(path, img)
        written['train'].append(path)
    for i in range(num_test):
        img, mask, kind = make_anomaly_sample(i, seed, image_size, anomaly_ratio=0.5)
        path = os.path.join(base, 'test', kind, f'{i:03d}.png')
        atomic_save_image(path, img)
        written['test'].append(path)
        if kind != 'good':
            mask_path = os.path.join(base, 'ground_truth', kind, f'{i:03d}_mask.png')
            atomic_save_image(mask_path, (mask * 255).astype(np.uint8))
            written['masks'].append(mask_path)
    return written
