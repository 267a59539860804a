"""Per-class COCO RLE, area and box of a label map, read a band of columns at a time.

A 108-MP label map has 108 MB of uint8 labels; the per-class full-size boolean mask, its uint8
copy and its Fortran-ordered copy that ``mask_to_rle`` needs took 0.3-0.4 GB more. Here each
class is encoded from bands of columns (COCO RLE runs down the columns), so the extra memory is
one band plus the run boundaries of one class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_util

BAND_VALUES = 1 << 22  # labels read at a time (4 M: a few MB of band and mask)


@dataclass
class ClassRegion:
    """What the semantic JSON says about one class of a label map."""

    area: int = 0
    bbox: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # [x, y, w, h]
    rle: dict = field(default_factory=dict)  # {"size": [H, W], "counts": str}


def column_bands(height: int, width: int, band_values: int | None = None) -> list[slice]:
    """Slices of whole columns holding about ``band_values`` (default
    :data:`BAND_VALUES`) labels each."""
    step = max(1, (band_values or BAND_VALUES) // max(height, 1))
    return [slice(x0, min(x0 + step, width)) for x0 in range(0, width, step)]


def label_counts(labels: np.ndarray, band_values: int | None = None) -> dict[int, int]:
    """Pixels per label value of an (H, W) integer map, counted a band of about
    ``band_values`` (default :data:`BAND_VALUES`) labels (whole rows) at a time.

    Linear time (``np.bincount``) where a band's labels are non-negative and its largest is
    below the band's size or 65536; other bands (negative or sparse large values) are
    counted with ``np.unique``. Every value is counted, ``ignore_index`` included.
    """
    counts: dict[int, int] = {}
    rows = max(1, (band_values or BAND_VALUES) // max(labels.shape[1], 1))
    for start in range(0, labels.shape[0], rows):
        band = labels[start:start + rows].ravel()
        if not band.size:
            continue
        if int(band.min()) >= 0 and int(band.max()) < max(band.size, 1 << 16):
            found = np.bincount(band.astype(np.intp, copy=False))  # uint64 too
            values = np.flatnonzero(found)
            numbers = found[values]
        else:
            values, numbers = np.unique(band, return_counts=True)
        for value, number in zip(values.tolist(), numbers.tolist()):
            counts[value] = counts.get(value, 0) + number
    return counts


def class_region(labels: np.ndarray, value: int, band_values: int | None = None) -> ClassRegion:
    """Area, tight box and COCO compressed RLE of ``labels == value``.

    Args:
        labels: (H, W) integer label map.
        value: the label whose mask is described.
        band_values: labels read at a time (default :data:`BAND_VALUES`).

    Returns:
        A ``ClassRegion`` equal to ``mask.sum()``, ``mask_to_bbox(mask)`` and
        ``mask_to_rle(mask)`` of the full mask, without making it.
    """
    height, width = labels.shape
    changes, area, previous = [], 0, False  # COCO RLE starts with a run of zeros
    rows_hit = np.zeros(height, bool)
    first_col = last_col = -1
    for band in column_bands(height, width, band_values):
        mask = labels[:, band] == value  # (H, w)
        columns = np.flatnonzero(mask.any(axis=0))
        if not len(columns):
            if previous:
                changes.append(np.array([band.start * height], np.int64))
                previous = False
            continue
        rows_hit |= mask.any(axis=1)
        first_col = band.start + int(columns[0]) if first_col < 0 else first_col
        last_col = band.start + int(columns[-1])
        area += int(np.count_nonzero(mask))
        flat = mask.T.ravel()  # column-major order of the band
        offset = band.start * height
        inner = np.flatnonzero(flat[1:] != flat[:-1]) + 1 + offset
        if bool(flat[0]) != previous:
            inner = np.concatenate([[offset], inner])
        changes.append(inner.astype(np.int64))
        previous = bool(flat[-1])
    bounds = np.concatenate([[0], *changes, [height * width]]).astype(np.int64)
    counts = np.diff(bounds)
    encoded = mask_util.frPyObjects({'counts': counts.tolist(), 'size': [height, width]},
                                    height, width)
    region = ClassRegion(area=area, rle={'size': [int(height), int(width)],
                                         'counts': encoded['counts'].decode('ascii')})
    rows = np.flatnonzero(rows_hit)
    if len(rows):
        region.bbox = [first_col, int(rows[0]), last_col - first_col + 1,
                       int(rows[-1] - rows[0] + 1)]
    return region
