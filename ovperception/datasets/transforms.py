"""Data transforms for segmentation pipelines (mmseg-compatible semantics, no mmcv).

Every transform is a callable ``results: dict -> dict`` registered in
``TRANSFORMS``. Keys follow mmseg: ``img`` (H, W, 3) uint8 **RGB**,
``gt_seg_map`` (H, W) int64, ``img_path``, ``seg_map_path``, ``ori_shape``,
``img_shape``, ``scale_factor`` (sy, sx as in ``ovperception.structures``),
``flip``, ``flip_direction``, ``reduce_zero_label``, ``classnames``.

Test pipeline of the training-free protocol (SCLIP): the image is resized so
that its short side is ``S`` and its long side at most 2048, and the labels are
loaded *after* the resize, so they stay at the original resolution::

    [dict(type='LoadImageFromFile'),
     dict(type='ResizeShortSide', short_side=336, max_long_side=2048),
     dict(type='LoadSegAnnotations'),
     dict(type='PackOVInputs')]
"""
from __future__ import annotations

import logging
from typing import Sequence

import cv2
import numpy as np
import torch
from mmengine.logging import print_log
from PIL import Image
from mmengine.structures import PixelData

from ovperception.registry import TRANSFORMS
from ovperception.structures import OVDataSample
from ovperception.utils.image_io import DEFAULT_MAX_PIXELS, load_image, load_label_map


class BaseTransform:
    """Minimal mmcv-style base: ``__call__`` delegates to ``transform``."""

    def __call__(self, results: dict) -> dict | None:
        return self.transform(results)

    def transform(self, results: dict) -> dict | None:
        """Transform one sample; returning ``None`` drops it (mmengine Compose)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))
        return f'{type(self).__name__}({args})'


def rescale_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int, float]:
    """mmcv ``rescale_size`` with a (long, short) bound, keeping the aspect ratio.

    The factor is ``min(max(scale) / long_edge, min(scale) / short_edge)`` and
    each side is rounded as ``int(side * factor + 0.5)``.

    Args:
        height, width: input size.
        scale: the two edge bounds, in any order, e.g. ``(2048, 336)``.

    Returns:
        ``(new_height, new_width, factor)``.
    """
    long_max, short_max = max(scale), min(scale)
    factor = min(long_max / max(height, width), short_max / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5), factor


#: per-pixel label maps that geometric transforms move with the image
SEG_KEYS = ('gt_seg_map', 'gt_panoptic_map')


def _cv2_image(img: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """(new_h, new_w, C) OpenCV bilinear resize of an (H, W, C) image, dtype kept."""
    return cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)


def _cv2_label(seg: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """(new_h, new_w) OpenCV nearest resize of an (H, W) label map, dtype kept."""
    resized = cv2.resize(seg.astype(np.int32), (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    return resized.astype(seg.dtype)


def _pillow_image(img: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """(new_h, new_w, C) uint8 Pillow bilinear resize; another dtype is cast to uint8 first
    (``astype``, as ExCEL's ``_img_rescaling``)."""
    pixels = img if img.dtype == np.uint8 else img.astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((new_w, new_h), Image.BILINEAR))


def _pillow_label(seg: np.ndarray, new_h: int, new_w: int) -> np.ndarray:
    """(new_h, new_w) Pillow nearest resize of an (H, W) label map, dtype kept."""
    mode_dtype = np.uint8 if 0 <= seg.min() and seg.max() <= 255 else np.int32
    resized = Image.fromarray(seg.astype(mode_dtype)).resize((new_w, new_h), Image.NEAREST)
    return np.asarray(resized).astype(seg.dtype)


#: resize backend -> (bilinear image resize, nearest label-map resize)
_RESIZERS = {'cv2': (_cv2_image, _cv2_label), 'pillow': (_pillow_image, _pillow_label)}


def _resize_sample(results: dict, new_h: int, new_w: int, with_seg: bool,
                   backend: str = 'cv2') -> dict:
    """Resize ``img`` bilinearly (and the label maps of ``SEG_KEYS`` by nearest when asked).

    ``backend``: ``'cv2'`` (mmseg; a resize to the same size is skipped) or ``'pillow'``
    (ExCEL's ``_img_rescaling``: Pillow filters with antialiasing when shrinking and samples
    pixel centres, unlike OpenCV; it always runs, casting the image to uint8 as the official
    code does).
    """
    img = results['img']
    h, w = img.shape[:2]
    if backend == 'pillow' or (new_h, new_w) != (h, w):
        resize_image, resize_label = _RESIZERS[backend]
        results['img'] = resize_image(img, new_h, new_w)
        for key in SEG_KEYS if with_seg else ():
            if results.get(key) is not None:
                results[key] = resize_label(results[key], new_h, new_w)
    results['img_shape'] = (new_h, new_w)
    results['scale_factor'] = (new_h / h, new_w / w)
    results['keep_ratio'] = True
    return results


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``img_path`` as (H, W, 3) uint8 RGB (robust to modes, EXIF, bombs).

    A sample that already holds an ``img`` array (e.g. ``SyntheticSegDataset``)
    passes through unchanged apart from the shape keys.

    Args:
        to_float32: return a float32 image instead of uint8.
        max_pixels: largest accepted image (``None``: no limit).
    """

    def __init__(self, to_float32: bool = False,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        self.to_float32 = to_float32
        self.max_pixels = max_pixels

    def transform(self, results: dict) -> dict:
        if not isinstance(results.get('img'), np.ndarray):
            results['img'] = load_image(results['img_path'], max_pixels=self.max_pixels)
        if self.to_float32:
            results['img'] = results['img'].astype(np.float32)
        results['ori_shape'] = tuple(results['img'].shape[:2])
        results['img_shape'] = tuple(results['img'].shape[:2])
        return results


def reduce_zero_label(label: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """mmseg ``reduce_zero_label``: 0 -> ignore, v -> v - 1, ignore stays ignore."""
    reduced = label - 1
    reduced[(label == 0) | (label == ignore_index)] = ignore_index
    return reduced


@TRANSFORMS.register_module()
class LoadSegAnnotations(BaseTransform):
    """Read ``seg_map_path`` into ``gt_seg_map`` (H, W) int64 (palette indices kept).

    Args:
        reduce_zero_label: map 0 to 255 and shift the other labels by -1.
            ``None`` (default) follows the sample's ``reduce_zero_label`` set by
            the dataset; an explicit value wins, with a warning on disagreement.
        ignore_index: the ignore label (255).

    A sample without ``seg_map_path`` keeps its in-memory ``gt_seg_map`` as it is.
    """

    def __init__(self, reduce_zero_label: bool | None = None, ignore_index: int = 255) -> None:
        self.reduce_zero_label = reduce_zero_label
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        path = results.get('seg_map_path')
        if path is None:
            if results.get('gt_seg_map') is None:
                raise KeyError('LoadSegAnnotations: the sample has neither seg_map_path nor '
                               'gt_seg_map')
            return results
        label = load_label_map(path)
        from_data = results.get('reduce_zero_label')
        reduce = self.reduce_zero_label
        if reduce is None:
            reduce = bool(from_data)
        elif from_data is not None and bool(from_data) != reduce:
            print_log(f'LoadSegAnnotations(reduce_zero_label={reduce}) overrides the '
                      f'dataset setting {bool(from_data)} for {path}', logger='current',
                      level=logging.WARNING)
        if reduce:
            label = reduce_zero_label(label, self.ignore_index)
        results['gt_seg_map'] = label
        results['reduce_zero_label'] = reduce
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results


@TRANSFORMS.register_module()
class ResizeShortSide(BaseTransform):
    """Test-time resize of the image only (labels stay at the original size).

    Equals mmseg ``Resize(scale=(max_long_side, short_side), keep_ratio=True)``
    applied before the labels are loaded: the factor is
    ``min(long_max / long_edge, short_max / short_edge)``; without
    ``max_long_side`` it is ``short_side / short_edge``. Bilinear interpolation.

    Args:
        short_side: target short side ``S``.
        max_long_side: upper bound of the long side (SCLIP protocol: 2048).
    """

    def __init__(self, short_side: int, max_long_side: int | None = None) -> None:
        self.short_side = short_side
        self.max_long_side = max_long_side

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        if self.max_long_side is None:
            factor = self.short_side / min(h, w)
            new_h, new_w = int(h * factor + 0.5), int(w * factor + 0.5)
        else:
            new_h, new_w, _ = rescale_size(h, w, (self.max_long_side, self.short_side))
        return _resize_sample(results, new_h, new_w, with_seg=False)


def patch_multiple_size(height: int, width: int, multiple: int = 16,
                        min_size: int = 0) -> tuple[int, int]:
    """Trident's CLIP input size: unchanged when both sides are multiples of ``multiple``;
    else the long side goes up to the next multiple, the short side follows the aspect ratio
    (truncated) and goes up to the next multiple, and both are at least ``min_size``."""
    if height % multiple == 0 and width % multiple == 0:
        return height, width
    longer = max(height, width)
    target = -(-longer // multiple) * multiple
    new_h, new_w = int(height * target / longer), int(width * target / longer)
    new_h, new_w = -(-new_h // multiple) * multiple, -(-new_w // multiple) * multiple
    return max(new_h, min_size), max(new_w, min_size)


@TRANSFORMS.register_module()
class ResizeToPatchMultiple(BaseTransform):
    """Test-time resize so that both sides are multiples of the patch size (Trident's
    ``preprocess_image``; see :func:`patch_multiple_size`), bilinear on float pixels
    (``align_corners=False``, no rounding: the image becomes float32). Labels stay at the
    original size.

    Args:
        multiple: the patch size (16).
        min_size: lower bound of both sides (Trident: the window size).
    """

    def __init__(self, multiple: int = 16, min_size: int = 0) -> None:
        if multiple < 1 or min_size < 0:
            raise ValueError(f'need multiple >= 1 and min_size >= 0, got {multiple}, {min_size}')
        self.multiple, self.min_size = int(multiple), int(min_size)

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        new_h, new_w = patch_multiple_size(h, w, self.multiple, self.min_size)
        if (new_h, new_w) != (h, w):
            pixels = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
            pixels = torch.nn.functional.interpolate(pixels, size=(new_h, new_w),
                                                     mode='bilinear', align_corners=False)
            results['img'] = pixels[0].permute(1, 2, 0).numpy()
            scale = results.get('scale_factor', (1.0, 1.0))
            results['scale_factor'] = (scale[0] * new_h / h, scale[1] * new_w / w)
        results['img_shape'] = (new_h, new_w)
        return results


@TRANSFORMS.register_module()
class RandomResize(BaseTransform):
    """Training resize by a random ratio ``r ~ U(ratio_range)``.

    With a ``scale`` bound (mmseg ``RandomResize``, ``keep_ratio=True``): the bound becomes
    ``(int(scale[0] * r), int(scale[1] * r))`` and the image is rescaled to fit it
    (``rescale_size``). With ``scale=None`` (ExCEL / WeCLIP ``random_scaling``): the image
    itself is scaled, to ``int(r * w)`` x ``int(r * h)``. ``gt_seg_map`` follows by nearest
    neighbour.

    Args:
        scale: (long, short) bound, e.g. ``(2048, 512)``; ``None``: scale the image size.
        ratio_range: range of the random ratio, e.g. ``(0.5, 2.0)``.
        backend: ``'cv2'`` (mmseg) or ``'pillow'`` (bilinear on uint8 / nearest, as ExCEL's
            ``_img_rescaling``).
    """

    def __init__(self, scale: tuple[int, int] | None = None,
                 ratio_range: tuple[float, float] = (0.5, 2.0), backend: str = 'cv2') -> None:
        if backend not in ('cv2', 'pillow'):
            raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")
        if len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f'ratio_range must be (low, high) with 0 < low <= high, '
                             f'got {ratio_range!r}')
        self.scale = None if scale is None else tuple(scale)
        self.ratio_range = tuple(ratio_range)
        self.backend = backend

    def target_size(self, height: int, width: int, ratio: float) -> tuple[int, int]:
        """(new_h, new_w) of a (height, width) image for the ratio ``ratio``."""
        if self.scale is None:
            return max(1, int(ratio * height)), max(1, int(ratio * width))
        bound = (int(self.scale[0] * ratio), int(self.scale[1] * ratio))
        return rescale_size(height, width, bound)[:2]

    def transform(self, results: dict) -> dict:
        ratio = np.random.uniform(*self.ratio_range)
        new_h, new_w = self.target_size(*results['img'].shape[:2], ratio)
        return _resize_sample(results, new_h, new_w, with_seg=True, backend=self.backend)


def pad_to_crop(array: np.ndarray, size: tuple[int, int], offset: tuple[int, int],
                value: int) -> np.ndarray:
    """``array`` (H, W[, C]) placed at ``offset`` (top, left) on a canvas of at least ``size``
    (h, w) filled with ``value``; unchanged when it is already that large."""
    height, width = array.shape[:2]
    canvas_h, canvas_w = max(size[0], height), max(size[1], width)
    if (canvas_h, canvas_w) == (height, width):
        return array
    canvas = np.full((canvas_h, canvas_w) + array.shape[2:], value, dtype=array.dtype)
    canvas[offset[0]:offset[0] + height, offset[1]:offset[1] + width] = array
    return canvas


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """mmseg ``RandomCrop``: crop image and labels to at most ``crop_size``.

    With ``cat_max_ratio < 1``, crops are drawn (``max_tries`` in all) until no single class
    covers ``cat_max_ratio`` or more of the labelled pixels and at least two classes are
    present; when none qualifies, the last one drawn is used.

    Without ``pad``, images smaller than the crop stay smaller (pad in the data
    preprocessor, after normalisation). With ``pad`` (ExCEL / WeCLIP ``random_crop``), a
    smaller side is first padded up to the crop: the image is placed at a random offset on a
    ``pad_val`` canvas (black, before normalisation) and the labels on a ``seg_pad_val``
    canvas, so every output is exactly ``crop_size``.

    Random draws (numpy): the pad offsets (top, then left), then per try the crop's top and
    left.

    Args:
        crop_size: (height, width).
        cat_max_ratio: largest allowed share of one class in the crop.
        ignore_index: label excluded from the class count.
        max_tries: crops drawn at most when ``cat_max_ratio < 1`` (mmseg 11: one plus ten
            redraws; ExCEL's ``random_crop`` 10).
        pad: pad images smaller than the crop (see above).
        pad_val: image padding value (0..255 scale).
        seg_pad_val: label padding value.
    """

    def __init__(self, crop_size: int | Sequence[int], cat_max_ratio: float = 1.0,
                 ignore_index: int = 255, max_tries: int = 11, pad: bool = False,
                 pad_val: int = 0, seg_pad_val: int = 255) -> None:
        size = (crop_size, crop_size) if isinstance(crop_size, int) else tuple(crop_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'crop_size must be positive (h, w), got {crop_size!r}')
        if max_tries < 1:
            raise ValueError(f'max_tries must be >= 1, got {max_tries}')
        self.crop_size = size
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index
        self.max_tries = int(max_tries)
        self.pad, self.pad_val, self.seg_pad_val = bool(pad), pad_val, seg_pad_val

    def _random_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(y1, y2, x1, x2) of a random crop."""
        off_h = np.random.randint(0, max(height - self.crop_size[0], 0) + 1)
        off_w = np.random.randint(0, max(width - self.crop_size[1], 0) + 1)
        return off_h, off_h + self.crop_size[0], off_w, off_w + self.crop_size[1]

    def _accepts(self, seg: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        """Whether the crop ``box`` of ``seg`` passes the ``cat_max_ratio`` test."""
        patch = seg[box[0]:box[1], box[2]:box[3]]
        labels, counts = np.unique(patch, return_counts=True)
        counts = counts[labels != self.ignore_index]
        return len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio

    def _pad(self, results: dict) -> None:
        """Pad image and label maps up to the crop size at one random offset."""
        height, width = results['img'].shape[:2]
        offset = (np.random.randint(max(self.crop_size[0], height) - height + 1),
                  np.random.randint(max(self.crop_size[1], width) - width + 1))
        results['img'] = pad_to_crop(results['img'], self.crop_size, offset, self.pad_val)
        for key in SEG_KEYS:
            if results.get(key) is not None:
                results[key] = pad_to_crop(results[key], self.crop_size, offset,
                                           self.seg_pad_val)
        results['pad_offset'] = offset

    def transform(self, results: dict) -> dict:
        if self.pad:
            self._pad(results)
        height, width = results['img'].shape[:2]
        seg = results.get('gt_seg_map')
        check = self.cat_max_ratio < 1.0 and seg is not None
        for _ in range(self.max_tries if check else 1):
            box = self._random_box(height, width)
            if check and self._accepts(seg, box):
                break
        y1, y2, x1, x2 = box
        results['img'] = results['img'][y1:y2, x1:x2]
        for key in SEG_KEYS:
            if results.get(key) is not None:
                results[key] = results[key][y1:y2, x1:x2]
        results['img_shape'] = tuple(results['img'].shape[:2])
        return results


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip image and labels with probability ``prob``.

    Args:
        prob: flip probability.
        direction: ``'horizontal'`` or ``'vertical'``.
    """

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal') -> None:
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f'direction must be horizontal or vertical, got {direction!r}')
        self.prob = prob
        self.direction = direction

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        if flip:
            axis = 1 if self.direction == 'horizontal' else 0
            results['img'] = np.flip(results['img'], axis=axis)
            for key in SEG_KEYS:
                if results.get(key) is not None:
                    results[key] = np.flip(results[key], axis=axis)
        results['flip'] = flip
        results['flip_direction'] = self.direction if flip else None
        return results


@TRANSFORMS.register_module()
class PackOVInputs(BaseTransform):
    """Pack a sample into ``dict(inputs, data_samples)`` for ``OVModel``.

    ``inputs`` is a (3, H, W) uint8 RGB tensor; ``data_samples`` an
    ``OVDataSample`` whose ``gt_sem_seg.data`` is (1, H, W) int64 (when the
    sample has labels), whose ``gt_panoptic_seg.data`` is (1, H, W) int64 (when it has a
    ``gt_panoptic_map``) and whose metainfo holds the ``meta_keys`` present.

    With ``results['share_image_memory']`` (``OVPredictor``'s uint8 path), ``inputs`` is a
    (3, H, W) view of a writable ``img`` instead of a contiguous copy.

    Args:
        meta_keys: sample keys copied into the metainfo.
    """

    DEFAULT_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'scale_factor',
                         'flip', 'flip_direction', 'reduce_zero_label', 'classnames',
                         'sample_idx', 'is_thing', 'image_tags')

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        if results.get('share_image_memory') and img.flags.writeable:
            # (3, H, W) view of the (H, W, 3) array, no copy: a 108-MP image is kept once
            # (the predictor's uint8 path cuts windows from it, each made contiguous)
            inputs = torch.from_numpy(img).permute(2, 0, 1)
        else:
            inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = OVDataSample()
        seg = results.get('gt_seg_map')
        if seg is not None:
            data = torch.from_numpy(np.ascontiguousarray(seg[None]).astype(np.int64))
            sample.gt_sem_seg = PixelData(data=data)
        panoptic = results.get('gt_panoptic_map')
        if panoptic is not None:
            data = torch.from_numpy(np.ascontiguousarray(panoptic[None]).astype(np.int64))
            sample.gt_panoptic_seg = PixelData(data=data)
        sample.set_metainfo({k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

