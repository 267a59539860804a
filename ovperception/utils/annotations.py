"""Machine-readable prediction outputs: COCO RLE, per-image semantic annotations,
label PNGs and COCO detection datasets.

Conventions:
    * Masks are (H, W) bool arrays; RLE is COCO's compressed RLE
      ``{"size": [H, W], "counts": str}`` (what ``pycocotools.mask`` produces,
      with ``counts`` decoded to ASCII so that it is JSON-serialisable).
    * Boxes in outputs are COCO ``[x, y, w, h]``. Boxes of masks are tight pixel
      boxes (``w = x_max - x_min + 1``, as ``pycocotools.mask.toBbox``); boxes of
      detections keep their continuous xyxy extent (``w = x2 - x1``).
    * Label PNGs store ``class_index + 1`` and 0 for unlabelled pixels, as uint8
      for up to 254 classes (value 255 never appears) and uint16 beyond.
    * COCO category ids are ``class_index + 1`` (COCO reserves 0).

Every returned dict holds only Python ``int``/``float``/``str``/``list``/``dict``
values and passes ``json.dumps`` unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_util

from .atomic import atomic_save_image, to_jsonable
from .band_rle import class_region, label_counts
from .banded_image import BandedImage
from .image_io import load_label_map

LABEL_PNG_ENCODING = 'value = class_index + 1, 0 = unlabelled'
SEM_SEG_FORMAT = 'ovperception.sem_seg.v1'
_UINT8_MAX_CLASSES = 254
_UINT16_MAX_CLASSES = 65535
#: Labels read at a time when a label PNG is checked and written.
LABEL_BAND_VALUES = 1 << 22

__all__ = [
    'LABEL_PNG_ENCODING', 'mask_to_rle', 'rle_to_mask', 'mask_to_bbox', 'mask_to_polygons',
    'sem_seg_to_annotation', 'label_map_to_png_array', 'png_array_to_label_map',
    'save_label_png', 'load_label_png', 'instances_to_coco', 'to_coco_dataset', 'to_jsonable',
    'to_numpy', 'squeeze_2d'
]


def to_numpy(value: Any) -> np.ndarray:
    """A tensor (any device), array, list or number as a numpy array."""
    if hasattr(value, 'detach') and hasattr(value, 'cpu'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def squeeze_2d(value: Any, name: str = 'map') -> np.ndarray:
    """A (H, W) or (1, ..., 1, H, W) map (tensor or array) as an (H, W) numpy array."""
    array = to_numpy(value)
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f'{name} must be (H, W) or (1, H, W), got shape {np.shape(value)}')
    return array


def label_map_2d(label_map: Any) -> np.ndarray:
    """(H, W) integer labels: an integer map keeps its type (a uint8 map of 108 MP stays
    108 MB, not an 864 MB int64 copy); others become int64."""
    labels = squeeze_2d(label_map, 'label_map')
    return labels if np.issubdtype(labels.dtype, np.integer) else labels.astype(np.int64)


def mask_to_rle(mask: Any) -> dict:
    """Encode a binary mask as COCO compressed RLE.

    Args:
        mask: (H, W) bool (or 0/1) array.

    Returns:
        ``{"size": [H, W], "counts": str}``.
    """
    arr = to_numpy(mask)
    if arr.ndim != 2:
        raise ValueError(f'mask must be (H, W), got shape {arr.shape}')
    rle = mask_util.encode(np.asfortranarray(arr.astype(bool).astype(np.uint8)))
    return {'size': [int(arr.shape[0]), int(arr.shape[1])],
            'counts': rle['counts'].decode('ascii')}


def crop_to_rle(crop: np.ndarray, offset: tuple[int, int], size: tuple[int, int]) -> dict:
    """COCO compressed RLE of a full-size mask given only its crop (no full-size array).

    Args:
        crop: (h, w) bool mask of the region inside its box.
        offset: ``(x0, y0)`` of the crop's top-left pixel in the image.
        size: ``(H, W)`` of the image.

    Returns:
        ``{"size": [H, W], "counts": str}``, equal to ``mask_to_rle`` of the full mask.
    """
    crop = np.asarray(crop, bool)
    (h, w), (x0, y0), (height, width) = crop.shape, offset, size
    if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
        raise ValueError(f'a {w}x{h} crop at ({x0}, {y0}) does not fit a {width}x{height} mask')
    # column-major (COCO) order: each crop column, then the gap to the next column's top
    values = np.zeros((w, h + 1), np.uint8)
    values[:, :h] = crop.T
    weights = np.ones((w, h + 1), np.int64)
    weights[:, h] = height - h
    values, weights = values.ravel(), weights.ravel()
    weights[-1] = (height - y0 - h) + (width - x0 - w) * height  # up to the image's end
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
    counts = np.add.reduceat(weights, starts).tolist()
    prefix = x0 * height + y0  # zeros before the crop's first pixel
    if values[starts[0]] == 0:
        counts[0] += prefix
    else:
        counts.insert(0, prefix)
    rle = mask_util.frPyObjects({'counts': counts, 'size': [height, width]}, height, width)
    return {'size': [int(height), int(width)], 'counts': rle['counts'].decode('ascii')}


def rle_to_mask(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode COCO RLE (compressed ``str``/``bytes`` counts or uncompressed list counts).

    Returns:
        (H, W) bool array.
    """
    height, width = (int(v) for v in rle['size'])
    counts = rle['counts']
    if isinstance(counts, list):
        encoded = mask_util.frPyObjects({'size': [height, width], 'counts': counts},
                                        height, width)
    else:
        encoded = {'size': [height, width],
                   'counts': counts.encode('ascii') if isinstance(counts, str) else counts}
    return mask_util.decode(encoded).astype(bool)


def rle_run_lengths(rle: Mapping) -> np.ndarray:
    """Run lengths of a COCO RLE (compressed string or list), zeros first, column-major.

    Decodes pycocotools' compressed ``counts`` string (5-bit groups, continuation bit 0x20,
    sign bit 0x10, each count after the second stored as a difference to the count two
    before) without materialising the mask: cost proportional to the number of runs.
    """
    counts = rle['counts']
    if isinstance(counts, list):
        return np.asarray(counts, np.int64)
    data = counts.encode('ascii') if isinstance(counts, str) else bytes(counts)
    runs: list[int] = []
    position = 0
    while position < len(data):
        value, shift, more = 0, 0, True
        while more:
            code = data[position] - 48
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return np.asarray(runs, np.int64)


def rle_to_crop(rle: Mapping) -> tuple[np.ndarray, int, int]:
    """The part of an RLE mask inside its tight box, without decoding the whole image.

    Cost grows with the number of runs and the box's columns times the image height, not
    with the image's area: what lets 30,000 small regions of a 24 MP image be written.

    Returns:
        ``(crop, x0, y0)``: (h, w) bool mask of the box whose top-left pixel is
        ``(x0, y0)``; a (0, 0) crop at (0, 0) for an empty mask.
    """
    height = int(rle['size'][0])
    runs = rle_run_lengths(rle)
    ends = np.cumsum(runs)
    starts = ends - runs
    ones = np.arange(len(runs)) % 2 == 1
    starts, ends = starts[ones & (runs > 0)], ends[ones & (runs > 0)]
    if not len(starts):
        return np.zeros((0, 0), bool), 0, 0
    first_column, last_column = int(starts.min()) // height, int(ends.max() - 1) // height
    offset = first_column * height
    length = (last_column - first_column + 1) * height
    edges = np.zeros(length + 1, np.int32)
    np.add.at(edges, starts - offset, 1)
    np.add.at(edges, ends - offset, -1)
    columns = (np.cumsum(edges[:-1]) > 0).reshape(-1, height).T  # (H, w)
    rows = np.flatnonzero(columns.any(axis=1))
    return columns[rows[0]:rows[-1] + 1], first_column, int(rows[0])


def crop_to_polygons(crop: np.ndarray, x0: int, y0: int) -> list[list[float]]:
    """:func:`mask_to_polygons` of a mask given as its crop at ``(x0, y0)``, in image
    coordinates."""
    polygons = mask_to_polygons(np.pad(crop, 1))  # outlines never touch the array's border
    x0, y0 = x0 - 1, y0 - 1
    for polygon in polygons:
        polygon[0::2] = [x + x0 for x in polygon[0::2]]
        polygon[1::2] = [y + y0 for y in polygon[1::2]]
    return polygons


def mask_to_bbox(mask: np.ndarray) -> list[int]:
    """Tight pixel box ``[x, y, w, h]`` of a mask (``[0, 0, 0, 0]`` when empty)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return [0, 0, 0, 0]
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer outlines of a mask as COCO polygons ``[[x1, y1, x2, y2, ...], ...]``.

    Each outline runs along pixel edges (pixel ``(x, y)`` spans ``[x, x + 1] x [y, y + 1]``),
    one per 8-connected part, so a single pixel is the square of its four corners and a
    1-px line a thin rectangle: every part of every mask, however small, gives a valid
    polygon of at least 4 vertices. pycocotools rasterises these outlines back to the
    exact pixels of hole-free parts; holes are filled (use RLE for exact masks).

    Args:
        mask: (H, W) bool mask.

    Returns:
        One flat ``[x, y, ...]`` list per part (``[]`` for an empty mask).
    """
    # On a 2x grid every pixel is a 2x2 block, so the contour through the boundary block
    # centres never degenerates; even grid coordinates are left / top pixel edges, odd ones
    # right / bottom edges.
    doubled = np.kron(np.ascontiguousarray(mask, dtype=np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(doubled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = []
    for contour in contours:
        points = contour.reshape(-1, 2)
        polygons.append(((points + points % 2) // 2).astype(float).reshape(-1).tolist())
    return polygons


def sem_seg_to_annotation(label_map: Any, label_names: Sequence[str], image_info: Mapping,
                          scores: Mapping[int | str, float] | None = None,
                          ignore_index: int = 255,
                          counts: Mapping[int, int] | None = None) -> dict:
    """Describe a semantic map as a JSON-ready per-image annotation.

    Args:
        label_map: (H, W) or (1, H, W) class indices in ``[0, len(label_names))``, or
            ``ignore_index`` for unlabelled pixels.
        label_names: the vocabulary, indexed by class.
        image_info: ``file_name``, ``height``, ``width`` (missing sizes are taken from
            the map) and any extra JSON-able keys, copied to ``"image"``.
        scores: optional per-class score keyed by class index or by name.
        ignore_index: value of unlabelled pixels.
        counts: the pixels per label of ``label_map`` (:func:`label_counts`) where the
            caller has them; default: counted here.

    Returns:
        ``{"format", "image", "label_names", "annotations", "unlabelled_area",
        "label_png"}`` where ``annotations`` holds, per present class in index order,
        ``{"class_index", "name", "area", "bbox" [x, y, w, h], "segmentation" (RLE)}``
        and ``"score"`` when given.

    Raises:
        ValueError: the map holds labels outside the vocabulary, or its size
            disagrees with ``image_info``.
    """
    labels = label_map_2d(label_map)
    height, width = labels.shape
    info = to_jsonable(dict(image_info))
    if int(info.setdefault('height', height)) != height or \
            int(info.setdefault('width', width)) != width:
        raise ValueError(f'label map is {height}x{width} but image_info says '
                         f'{info["height"]}x{info["width"]}')
    names = [str(n) for n in label_names]
    areas = dict(label_counts(labels) if counts is None else counts)  # no full-size mask
    unlabelled = areas.pop(ignore_index, 0)
    present = sorted(areas)
    bad = [value for value in present if value < 0 or value >= len(names)]
    if bad:
        raise ValueError(f'label map holds labels {bad[:10]} outside the '
                         f'{len(names)}-class vocabulary (ignore_index={ignore_index})')
    annotations = []
    for index in present:
        region = class_region(labels, index)
        entry: dict[str, Any] = {
            'class_index': int(index), 'name': names[index], 'area': region.area,
            'bbox': region.bbox, 'segmentation': region.rle}
        if scores is not None:
            score = scores.get(index, scores.get(names[index]))
            if score is not None:
                entry['score'] = float(score)
        annotations.append(entry)
    num_classes = max(len(names), 1)
    return {
        'format': SEM_SEG_FORMAT,
        'image': info,
        'label_names': names,
        'annotations': annotations,
        'unlabelled_area': int(unlabelled),
        'label_png': {'encoding': LABEL_PNG_ENCODING,
                      'dtype': 'uint8' if num_classes <= _UINT8_MAX_CLASSES else 'uint16'},
    }


def label_map_to_png_array(label_map: Any, ignore_index: int = 255,
                           num_classes: int | None = None) -> np.ndarray:
    """Encode class indices for a label PNG: ``class_index + 1``, 0 for unlabelled.

    The dtype depends on the number of classes only (pass ``num_classes`` so that
    every image of a dataset gets the same bit depth): uint8 for up to 254 classes,
    uint16 for up to 65535.

    Args:
        label_map: (H, W) or (1, H, W) class indices or ``ignore_index``.
        ignore_index: value of unlabelled pixels.
        num_classes: vocabulary size; default the largest label + 1.

    Returns:
        (H, W) uint8 or uint16 array.
    """
    labels = label_map_2d(label_map)
    return _encode_label_rows(labels, 0, labels.shape[0], ignore_index,
                              _label_png_dtype(labels, ignore_index, num_classes))


def _label_png_dtype(labels: np.ndarray, ignore_index: int,
                     num_classes: int | None) -> np.dtype:
    """uint8 or uint16 for the label PNG of (H, W) ``labels``, checked a band of rows at a
    time (no full-size mask or copy)."""
    low, high = None, -1
    rows = max(1, LABEL_BAND_VALUES // max(1, labels.shape[1]))
    for start in range(0, labels.shape[0], rows):
        band = labels[start:start + rows]
        values = band[band != ignore_index]
        if values.size:
            high = max(high, int(values.max()))
            low = int(values.min()) if low is None else min(low, int(values.min()))
    if low is not None and low < 0:
        raise ValueError('label map holds negative labels other than ignore_index')
    if num_classes is None:
        num_classes = high + 1
    elif high >= num_classes:
        raise ValueError(f'label {high} out of range for {num_classes} classes')
    if num_classes > _UINT16_MAX_CLASSES:
        raise ValueError(f'{num_classes} classes do not fit a 16-bit label PNG')
    return np.dtype(np.uint8 if num_classes <= _UINT8_MAX_CLASSES else np.uint16)


def _encode_label_rows(labels: np.ndarray, start: int, stop: int, ignore_index: int,
                       dtype: np.dtype) -> np.ndarray:
    """Rows ``start:stop`` of the label PNG array of (H, W) ``labels`` (range checked)."""
    band = labels[start:stop]
    encoded = band.astype(dtype)  # in range: checked (ignored pixels zeroed below)
    encoded += 1
    encoded[band == ignore_index] = 0
    return encoded


def png_array_to_label_map(png: Any, ignore_index: int = 255) -> np.ndarray:
    """Invert :func:`label_map_to_png_array`.

    Returns:
        (H, W) int64 class indices, ``ignore_index`` where the PNG holds 0.
    """
    values = label_map_2d(png).astype(np.int64)
    return np.where(values == 0, ignore_index, values - 1)


def save_label_png(path: str | Path, label_map: Any, ignore_index: int = 255,
                   num_classes: int | None = None) -> None:
    """Write a label PNG atomically (see :func:`label_map_to_png_array`).

    Args:
        path: destination ``.png`` file.
        label_map: (H, W) or (1, H, W) class indices or ``ignore_index``.
        ignore_index: value of unlabelled pixels.
        num_classes: vocabulary size (fixes the bit depth); default largest label + 1.

    The PNG is encoded a band of rows at a time: a 108-MP map needs no full-size copy.
    """
    labels = label_map_2d(label_map)
    dtype = _label_png_dtype(labels, ignore_index, num_classes)

    def fill(rows: np.ndarray, start: int, stop: int) -> None:
        rows[..., 0] = _encode_label_rows(labels, start, stop, ignore_index, dtype)

    atomic_save_image(path, BandedImage((*labels.shape, 1), fill, dtype))


def load_label_png(path: str | Path, ignore_index: int = 255) -> np.ndarray:
    """Read a label PNG written by :func:`save_label_png` as (H, W) int64 class indices."""
    return png_array_to_label_map(load_label_map(path), ignore_index)


def _field(instances: Any, key: str) -> Any:
    """Read a field of an ``InstanceData`` or a mapping; None when absent."""
    if isinstance(instances, Mapping):
        return instances.get(key)
    return getattr(instances, key, None)


def instances_to_coco(bboxes: Any, labels: Any, image_id: int, scores: Any = None,
                      masks: Any = None, score_threshold: float = 0.0,
                      mask_format: str = 'rle', start_id: int = 1) -> list[dict]:
    """Convert one image's instances to COCO annotation / result dicts.

    Args:
        bboxes: (N, 4) xyxy boxes in pixels.
        labels: (N,) class indices; ``category_id = label + 1``.
        image_id: COCO image id.
        scores: optional (N,) confidences, written as ``"score"`` (COCO results).
        masks: optional (N, H, W) bool masks, written as ``"segmentation"``.
        score_threshold: drop instances scoring below this.
        mask_format: ``'rle'`` (exact, compressed) or ``'polygon'`` (outer contours,
            for tools importing polygons only).
        start_id: annotation id of the first kept instance.

    Returns:
        One dict per kept instance: ``id, image_id, category_id, bbox [x, y, w, h],
        area, iscrowd (0)`` and ``score`` / ``segmentation`` when given. ``area`` is
        the mask area when masks are given, else the box area.
    """
    if mask_format not in ('rle', 'polygon'):
        raise ValueError(f"mask_format must be 'rle' or 'polygon', got {mask_format!r}")
    boxes = to_numpy(bboxes).astype(np.float64).reshape(-1, 4)
    label_arr = to_numpy(labels).astype(np.int64).reshape(-1)
    score_arr = None if scores is None else to_numpy(scores).astype(np.float64).reshape(-1)
    mask_arr = None if masks is None else to_numpy(masks).astype(bool)
    num = len(boxes)
    if len(label_arr) != num or (score_arr is not None and len(score_arr) != num) or \
            (mask_arr is not None and len(mask_arr) != num):
        raise ValueError('bboxes, labels, scores and masks must hold the same number of rows')
    results = []
    for i in range(num):
        if score_arr is not None and score_arr[i] < score_threshold:
            continue
        x1, y1, x2, y2 = boxes[i].tolist()
        ann: dict[str, Any] = {
            'id': start_id + len(results), 'image_id': int(image_id),
            'category_id': int(label_arr[i]) + 1,
            'bbox': [x1, y1, max(x2 - x1, 0.0), max(y2 - y1, 0.0)],
            'area': max(x2 - x1, 0.0) * max(y2 - y1, 0.0), 'iscrowd': 0}
        if score_arr is not None:
            ann['score'] = float(score_arr[i])
        if mask_arr is not None:
            ann['area'] = int(mask_arr[i].sum())
            ann['segmentation'] = (mask_to_rle(mask_arr[i]) if mask_format == 'rle'
                                   else mask_to_polygons(mask_arr[i]))
        results.append(ann)
    return results


def to_coco_dataset(images: Sequence[Mapping], instances_per_image: Sequence[Any],
                    label_names: Sequence[str], score_threshold: float = 0.0,
                    mask_format: str = 'rle', info: Mapping | None = None) -> dict:
    """Build a COCO dataset dict (importable by CVAT, Label Studio, pycocotools).

    Args:
        images: per image ``file_name``, ``height``, ``width`` and optional ``id``
            (default: position + 1); extra keys are kept.
        instances_per_image: per image an ``InstanceData`` or mapping with ``bboxes``
            (N, 4) xyxy, ``labels`` (N,), optional ``scores`` and ``masks``.
        label_names: the vocabulary; category ``i + 1`` is ``label_names[i]``.
        score_threshold: drop instances scoring below this.
        mask_format: ``'rle'`` or ``'polygon'``, see :func:`instances_to_coco`.
        info: optional COCO ``info`` block.

    Returns:
        ``{"info", "licenses", "images", "annotations", "categories"}``.
    """
    if len(images) != len(instances_per_image):
        raise ValueError(f'{len(images)} images but {len(instances_per_image)} instance sets')
    coco_images, annotations = [], []
    for position, (image, instances) in enumerate(zip(images, instances_per_image)):
        record = to_jsonable(dict(image))
        record.setdefault('id', position + 1)
        coco_images.append(record)
        annotations.extend(instances_to_coco(
            _field(instances, 'bboxes'), _field(instances, 'labels'), record['id'],
            scores=_field(instances, 'scores'), masks=_field(instances, 'masks'),
            score_threshold=score_threshold, mask_format=mask_format,
            start_id=len(annotations) + 1))
    categories = [{'id': i + 1, 'name': str(name), 'supercategory': 'object'}
                  for i, name in enumerate(label_names)]
    return {'info': to_jsonable(dict(info or {'description': 'ovperception predictions'})),
            'licenses': [], 'images': coco_images, 'annotations': annotations,
            'categories': categories}
