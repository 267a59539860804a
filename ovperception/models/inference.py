"""Sliding-window and whole-image inference, shared by every task.

Pure functions: no model state. ``slide_inference`` gathers the windows of all
images of a batch, runs the (expensive) encoder on them in batches, then lets a
per-sample decoder turn the features of all windows of an image (one call) into
dense outputs that are resized to the window and averaged where windows overlap
(mmseg's rule; :func:`stitch_windows` is its plain loop, :func:`stitch_lazily`
the fast form that never builds per-window full-resolution maps).
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from ovperception.models.stitched import StitchedWindows, Window, padding_offset

EncodeFn = Callable[[Tensor], Tensor]
#: ``encode_windows`` shows a progress bar (on a terminal) from this many windows on.
PROGRESS_MIN_WINDOWS = 512
DecodeFn = Callable[[Tensor, int], Tensor]


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    height, width = value
    return int(height), int(width)


def sliding_windows(height: int, width: int, crop_size: int | Sequence[int],
                    stride: int | Sequence[int]) -> list[Window]:
    """Windows covering an (height, width) image, as mmseg's ``slide_inference``.

    The last window of a row/column is shifted back so it ends at the border;
    an image smaller than the crop gets a single window of its own size.
    """
    crop_h, crop_w = _pair(crop_size)
    stride_h, stride_w = _pair(stride)
    if min(crop_h, crop_w, stride_h, stride_w) <= 0:
        raise ValueError(f'crop_size {crop_size} and stride {stride} must be positive')
    rows = max(height - crop_h + stride_h - 1, 0) // stride_h + 1
    cols = max(width - crop_w + stride_w - 1, 0) // stride_w + 1
    windows: list[Window] = []
    for row in range(rows):
        for col in range(cols):
            y1 = min(row * stride_h + crop_h, height)
            x1 = min(col * stride_w + crop_w, width)
            windows.append((max(y1 - crop_h, 0), max(x1 - crop_w, 0), y1, x1))
    return list(dict.fromkeys(windows))


def resize_window_output(output: Tensor, size: tuple[int, int],
                         feature_stride: int | None = None,
                         centred_padding: bool = False) -> Tensor:
    """Bilinearly resize a window's dense output (n, D, h', w') to ``size`` (H, W).

    When ``feature_stride`` is given, the output grid is taken to cover the
    window padded up to a multiple of the stride (bottom/right, or on both sides
    with ``centred_padding``): it is resized to the padded size and the window is
    cropped out, so padding never stretches the prediction. Without it the grid is
    stretched over the window (a floor grid that dropped the remainder).
    """
    height, width = size
    if feature_stride is None:
        target = (height, width)
    else:
        target = (output.shape[-2] * feature_stride, output.shape[-1] * feature_stride)
    resized = F.interpolate(output, size=target, mode='bilinear', align_corners=False)
    top = padding_offset(output.shape[-2], feature_stride, height, centred_padding)
    left = padding_offset(output.shape[-1], feature_stride, width, centred_padding)
    return resized[..., top:top + height, left:left + width]


def encode_windows(images: Sequence[Tensor], windows: Sequence[Sequence[Window]],
                   encode: EncodeFn, crop_batch_size: int) -> list[list[Tensor]]:
    """Run ``encode`` on every window of every image, batching same-sized windows.

    Args:
        images: B tensors (3, H_i, W_i).
        windows: per image, its windows.
        encode: (n, 3, h, w) -> (n, C, h', w').
        crop_batch_size: at most this many windows per encoder call.

    Returns:
        Per image, per window, a (C, h', w') feature tensor.

    From :data:`PROGRESS_MIN_WINDOWS` windows on (a huge image), a tqdm bar over the
    windows is shown on a terminal.
    """
    if crop_batch_size <= 0:
        raise ValueError('crop_batch_size must be positive')
    by_shape: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for image_index, image_windows in enumerate(windows):
        for window_index, (y0, x0, y1, x1) in enumerate(image_windows):
            by_shape[(y1 - y0, x1 - x0)].append((image_index, window_index))
    features: list[list[Tensor | None]] = [[None] * len(w) for w in windows]
    total = sum(len(w) for w in windows)
    bar = tqdm(total=total, desc='windows', unit='win', leave=False,
               disable=None if total >= PROGRESS_MIN_WINDOWS else True)
    for members in by_shape.values():
        for start in range(0, len(members), crop_batch_size):
            chunk = members[start:start + crop_batch_size]
            crops = torch.stack([
                images[i][:, windows[i][j][0]:windows[i][j][2], windows[i][j][1]:windows[i][j][3]]
                for i, j in chunk]).contiguous()  # crops of a (3, H, W) view of (H, W, 3) too
            encoded = encode(crops)
            for (i, j), feat in zip(chunk, encoded):
                features[i][j] = feat
            bar.update(len(chunk))
    bar.close()
    return features  # type: ignore[return-value]


def stitch_windows(window_outputs: Sequence[Tensor], windows: Sequence[Window],
                   image_size: tuple[int, int], feature_stride: int | None = None,
                   centred_padding: bool = False) -> Tensor:
    """Average window outputs (D, h', w') into one (D, H, W) map (placed as in
    :func:`resize_window_output`)."""
    height, width = image_size
    first = window_outputs[0]
    total = first.new_zeros((first.shape[0], height, width))
    count = first.new_zeros((1, height, width))
    for output, (y0, x0, y1, x1) in zip(window_outputs, windows):
        resized = resize_window_output(output[None], (y1 - y0, x1 - x0), feature_stride,
                                       centred_padding)[0]
        total[:, y0:y1, x0:x1] += resized
        count[:, y0:y1, x0:x1] += 1
    if bool((count == 0).any()):
        raise RuntimeError('sliding windows do not cover the image')  # pragma: no cover
    return total / count


def stitch_lazily(outputs: Tensor, windows: Sequence[Window], image_size: tuple[int, int],
                  feature_stride: int | None = None,
                  centred_padding: bool = False) -> StitchedWindows:
    """The stitched map of one image's window outputs (n, D, h', w'), kept lazy.

    Windows from :func:`sliding_windows` form a grid and stay lazy; any other
    window set is stitched at once with :func:`stitch_windows` and wrapped.
    """
    try:
        return StitchedWindows(outputs, windows, image_size, feature_stride, centred_padding)
    except ValueError:
        return StitchedWindows.from_dense(stitch_windows(
            list(outputs), windows, image_size, feature_stride, centred_padding))


def slide_inference(images: Sequence[Tensor], encode: EncodeFn, decode: DecodeFn, *,
                    crop_size: int | Sequence[int], stride: int | Sequence[int],
                    crop_batch_size: int = 16, feature_stride: int | None = None) -> list[Tensor]:
    """Dense outputs of B images of any sizes by overlapping sliding windows.

    Args:
        images: B normalised tensors (3, H_i, W_i) (no padding).
        encode: windows (n, 3, h, w) -> features (n, C, h', w'); batched across images.
        decode: (features (n, C, h', w'), image index) -> outputs (n, D, h', w'); called
            once per image with all its windows.
        crop_size, stride: window size and step, int or (h, w).
        crop_batch_size: windows per encoder call.
        feature_stride: the encoder's output stride (patch size), see
            :func:`resize_window_output`.

    Returns:
        B tensors (D, H_i, W_i).
    """
    windows = [sliding_windows(img.shape[-2], img.shape[-1], crop_size, stride) for img in images]
    features = encode_windows(images, windows, encode, crop_batch_size)
    outputs = []
    for index, (image, image_windows) in enumerate(zip(images, windows)):
        decoded = decode(torch.stack(features[index]), index)
        outputs.append(stitch_lazily(decoded, image_windows, tuple(image.shape[-2:]),
                                     feature_stride).dense())
    return outputs


def whole_inference(images: Sequence[Tensor], encode: EncodeFn, decode: DecodeFn, *,
                    crop_batch_size: int = 16, feature_stride: int | None = None) -> list[Tensor]:
    """Dense outputs with one window per image (the whole image)."""
    return [
        out for out in slide_inference(
            images, encode, decode, crop_size=(1 << 30), stride=(1 << 30),
            crop_batch_size=crop_batch_size, feature_stride=feature_stride)
    ]


def map_resized_in_chunks(dense: Tensor, size: tuple[int, int],
                          pixel_fn: Callable[[Tensor], Tensor], *,
                          max_elements: int = 1 << 26) -> Tensor:
    """Resize (D, h, w) to (D, H, W) bilinearly and apply ``pixel_fn`` per pixel.

    Equivalent to ``pixel_fn(F.interpolate(dense[None], size, 'bilinear')[0])``
    but processes output rows in chunks so that a huge target size never
    materialises the full (D, H, W) tensor.

    Args:
        dense: (D, h, w) dense scores.
        size: output (H, W).
        pixel_fn: (D, rows, W) -> (rows, W) or (E, rows, W) per-pixel reduction.
        max_elements: budget of D * rows * W elements per chunk.
    """
    height, width = size
    depth, in_h, in_w = dense.shape
    rows_per_chunk = max(1, max_elements // max(1, depth * width))
    if rows_per_chunk >= height:
        return pixel_fn(F.interpolate(dense[None], size=size, mode='bilinear',
                                      align_corners=False)[0])
    # Source coordinates of F.interpolate(align_corners=False), expressed for grid_sample.
    xs = ((torch.arange(width, device=dense.device) + 0.5) * in_w / width - 0.5)
    xs = (2 * (xs.clamp(min=0) + 0.5) / in_w - 1).to(dense.dtype)
    pieces = []
    for start in range(0, height, rows_per_chunk):
        stop = min(height, start + rows_per_chunk)
        ys = ((torch.arange(start, stop, device=dense.device) + 0.5) * in_h / height - 0.5)
        ys = (2 * (ys.clamp(min=0) + 0.5) / in_h - 1).to(dense.dtype)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing='ij')[::-1], dim=-1)[None]
        chunk = F.grid_sample(dense[None], grid, mode='bilinear', padding_mode='border',
                              align_corners=False)[0]
        pieces.append(pixel_fn(chunk))
    return torch.cat(pieces, dim=-2)


def ceil_to_multiple(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``value``."""
    return int(math.ceil(value / multiple) * multiple)
