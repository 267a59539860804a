"""Deterministic, well-separated class colours.

Colours are RGB ``uint8``. Class ``i`` always gets the same colour whatever the
vocabulary size, so the same class keeps its colour across images, GT and
prediction panels and runs. Hues follow the golden-ratio sequence (consecutive
classes land far apart on the hue circle); saturation and value cycle through a
few levels so that classes whose hues come close again still differ. No class
colour is close to :data:`UNLABELLED_COLOR`.
"""
from __future__ import annotations

import numpy as np

#: Reserved colour (RGB) of unlabelled / ignored pixels; never used for a class.
UNLABELLED_COLOR: tuple[int, int, int] = (0, 0, 0)

_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
_HUE_OFFSET = 0.0
_SATURATIONS = np.array([0.90, 0.60, 0.75])
_VALUES = np.array([0.95, 0.78])


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """Convert HSV colours in [0, 1] to RGB ``uint8``.

    Args:
        hsv: (N, 3) float array of hue, saturation, value, each in [0, 1].

    Returns:
        (N, 3) uint8 RGB array.
    """
    hsv = np.asarray(hsv, dtype=np.float64).reshape(-1, 3)
    h, s, v = hsv[:, 0] % 1.0, hsv[:, 1], hsv[:, 2]
    sector = np.floor(h * 6.0).astype(np.int64) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([
        np.stack([v, t, p], 1), np.stack([q, v, p], 1), np.stack([p, v, t], 1),
        np.stack([p, q, v], 1), np.stack([t, p, v], 1), np.stack([v, p, q], 1),
    ], 0)  # (6, N, 3)
    rgb = table[sector, np.arange(len(h))]
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def get_palette(num_classes: int) -> np.ndarray:
    """Return ``num_classes`` distinct RGB colours, one per class index.

    Deterministic and prefix-stable: ``get_palette(n)[:m] == get_palette(m)``.

    Args:
        num_classes: number of classes (>= 0).

    Returns:
        (num_classes, 3) uint8 RGB array.
    """
    if num_classes < 0:
        raise ValueError(f'num_classes must be >= 0, got {num_classes}')
    idx = np.arange(num_classes, dtype=np.float64)
    hue = (_HUE_OFFSET + idx * _GOLDEN_RATIO_CONJUGATE) % 1.0
    int_idx = np.arange(num_classes)
    sat = _SATURATIONS[int_idx % len(_SATURATIONS)]
    val = _VALUES[(int_idx // len(_SATURATIONS)) % len(_VALUES)]
    return hsv_to_rgb(np.stack([hue, sat, val], axis=1))


def colorize_label_map(label_map: np.ndarray, ignore_index: int = 255,
                       palette: np.ndarray | None = None) -> np.ndarray:
    """Paint a label map with class colours (no blending).

    Args:
        label_map: (H, W) integer class indices; ``ignore_index`` and negative values
            are unlabelled.
        ignore_index: value of unlabelled pixels.
        palette: optional (K, 3) uint8 colours; by default :func:`get_palette` sized
            to the largest label.

    Returns:
        (H, W, 3) uint8 RGB image; unlabelled pixels get :data:`UNLABELLED_COLOR`.
    """
    label_map = np.asarray(label_map).astype(np.int64, copy=False)
    valid = (label_map != ignore_index) & (label_map >= 0)
    max_label = int(label_map[valid].max()) if valid.any() else -1
    if palette is None or len(palette) <= max_label:
        palette = get_palette(max_label + 1)
    out = np.empty(label_map.shape + (3, ), dtype=np.uint8)
    out[...] = np.asarray(UNLABELLED_COLOR, dtype=np.uint8)
    out[valid] = np.asarray(palette, dtype=np.uint8)[label_map[valid]]
    return out
