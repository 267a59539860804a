"""Pure numpy / cv2 overlays for every ovperception task.

Every function takes an RGB ``uint8`` image (H, W, 3) and returns a new RGB
``uint8`` image (H', W', 3): the input is never modified. Images whose shorter
side is below ``min_size`` are first upscaled by an integer factor (nearest
neighbour) so that overlays, text and legends stay legible on tiny inputs;
coordinates (boxes, points) are given in the input image's pixels and scaled
along. Text uses cv2's Hershey fonts for ASCII and TrueType fonts (canvas.py,
fonts.py) for any other Unicode name; long names are truncated with ``'...'``.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import cv2
import numpy as np

from ..utils.annotations import squeeze_2d
from ..utils.band_rle import label_counts
from ..utils.banded_image import BandedImage
from .canvas import (BACKGROUND, Color, add_title, fit_text, font_scale_for, hstack,
                     nearest_resize, put_text, render_legend, text_size, to_rgb_uint8,
                     upscale_factor, vstack)
from .palette import get_palette

__all__ = [
    'draw_sem_seg', 'draw_instances', 'draw_heatmap', 'draw_count', 'draw_title', 'apply_colormap'
]


def _prepare(image: np.ndarray, min_size: int) -> tuple[np.ndarray, int]:
    """Return the RGB uint8 canvas (upscaled when small) and its integer scale factor."""
    img = to_rgb_uint8(image)
    factor = upscale_factor(img.shape[0], img.shape[1], min_size)
    if factor > 1:
        img = cv2.resize(img, (img.shape[1] * factor, img.shape[0] * factor),
                         interpolation=cv2.INTER_NEAREST)
    return img, factor


#: Rows blended per step: float32 temporaries stay a few MB even on a 100-megapixel image.
_BLEND_ROWS = 256
#: Pixels per band of :func:`draw_sem_seg` (its temporaries are about 60 bytes a pixel).
_BAND_PIXELS = 1 << 19


def _mix(base: np.ndarray, color: np.ndarray, alpha: float) -> np.ndarray:
    """``color`` alpha-blended over ``base`` (same shape), rounded to uint8."""
    mixed = base.astype(np.float32) * (1.0 - alpha) + color.astype(np.float32) * alpha
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def _blend(base: np.ndarray, color: np.ndarray, alpha: float,
           where: np.ndarray | None = None) -> np.ndarray:
    """Alpha-blend ``color`` over ``base`` (optionally only where a mask is set), a band of
    rows at a time (memory proportional to the output, not 4x it in float32)."""
    out = base.copy()
    for start in range(0, base.shape[0], _BLEND_ROWS):
        rows = slice(start, start + _BLEND_ROWS)
        mixed = _mix(base[rows], color[rows], alpha)
        if where is None:
            out[rows] = mixed
        else:
            out[rows][where[rows]] = mixed[where[rows]]
    return out


def _name(label_names: Sequence[str], index: int) -> str:
    return str(label_names[index]) if 0 <= index < len(label_names) else f'class {index}'


def _contrast_text(color: Sequence[int]) -> Color:
    """Black or white, whichever reads better on ``color``."""
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def _class_palette(palette: np.ndarray | None, num: int) -> np.ndarray:
    if palette is not None and len(palette) >= num:
        return np.asarray(palette, dtype=np.uint8)
    return get_palette(num)


def _attach_legend(canvas: np.ndarray, legend: np.ndarray, side: str) -> np.ndarray:
    return hstack([canvas, legend], gap=0) if side == 'right' else vstack([canvas, legend], 0)


def draw_title(image: np.ndarray, title: str, min_size: int = 256) -> np.ndarray:
    """Return the image (upscaled like the other overlays) under a header with ``title``.

    Returns:
        (H', W', 3) uint8 RGB image.
    """
    return add_title(_prepare(image, min_size)[0], title)


def draw_sem_seg(image: np.ndarray, label_map: np.ndarray, label_names: Sequence[str],
                 alpha: float = 0.5, ignore_index: int = 255, palette: np.ndarray | None = None,
                 draw_boundaries: bool = True, boundary_color: Color = (255, 255, 255),
                 legend: str = 'auto', min_size: int = 256,
                 title: str | None = None, banded: bool = False,
                 counts: Mapping[int, int] | None = None) -> np.ndarray | BandedImage:
    """Blend class colours over an image, outline class boundaries, append a legend.

    Args:
        image: (H, W, 3) uint8 RGB image (grey and RGBA are accepted).
        label_map: (H, W) or (1, H, W) integer class indices; resized (nearest) to the
            image if its size differs. ``ignore_index`` and negative values are
            unlabelled and keep the image's pixels.
        label_names: class names indexed by label; missing ones read ``'class i'``.
        alpha: opacity of class colours.
        ignore_index: value of unlabelled pixels.
        palette: optional (K, 3) uint8 RGB colours, used when it covers every label;
            default :func:`get_palette`.
        draw_boundaries: outline the borders between different labels.
        boundary_color: RGB colour of the borders.
        legend: ``'auto'`` (right for tall/square images, bottom for wide ones),
            ``'right'``, ``'bottom'`` or ``'none'``. The legend lists present classes
            only, largest area first, as ``[swatch] name  area%``.
        min_size: upscale images whose shorter side is smaller than this.
        title: optional header text.
        banded: return a :class:`BandedImage` whose rows are drawn when read (streamed to a
            PNG, a 108-MP overlay never exists whole) where the overlay has a legend and no
            title; its pixels equal the array's.
        counts: the pixels per label of ``label_map`` (:func:`label_counts`) where the
            caller has them (used when the map is the image's size; else counted here).

    Returns:
        (H', W', 3) uint8 RGB image, H' >= H and W' >= W.
    """
    img = np.asarray(image)
    if not (img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
        img = to_rgb_uint8(img)  # an RGB uint8 image is only read: no copy of it
    labels = squeeze_2d(label_map, 'label_map')
    if not np.issubdtype(labels.dtype, np.integer):
        labels = labels.astype(np.int64)  # an integer map keeps its (small) type
    if counts is None or labels.shape != img.shape[:2]:
        labels = nearest_resize(labels, img.shape[0], img.shape[1])
        counts = label_counts(labels)  # linear time, band by band
    present = np.array(sorted(v for v in counts if v >= 0 and v != ignore_index), np.int64)
    areas = np.array([counts[v] for v in present.tolist()], np.int64)
    colors = _class_palette(palette, max(len(label_names), int(present.max(initial=-1)) + 1))

    factor = upscale_factor(img.shape[0], img.shape[1], min_size)
    canvas = img if factor == 1 else _prepare(img, min_size)[0]
    if factor > 1:  # a small image: its upscaled labels are small too
        labels = np.repeat(np.repeat(labels, factor, axis=0), factor, axis=1)
    side = legend if legend != 'auto' else (
        'right' if canvas.shape[1] <= 1.6 * canvas.shape[0] else 'bottom')
    panel = None
    if len(present) and legend != 'none' and not title:
        panel = _legend_panel(present, areas, colors, label_names,
                              max(labels.size // (factor * factor), 1), canvas.shape, side)
    border = boundary_color if draw_boundaries else None
    if banded and panel is not None:
        def fill(rows: np.ndarray, start: int, stop: int) -> None:
            _fill_legend_rows(rows, start, canvas.shape, panel, side)
            _draw_label_bands(rows, canvas, labels, colors, alpha, ignore_index, border,
                              slice(start, min(stop, canvas.shape[0])))
        return BandedImage(_legend_layout_shape(canvas.shape, panel, side), fill)
    # The overlay is made in bands of rows, straight into the final canvas (legend beside
    # or below it): a 108-MP overlay needs no full-size colour, blend or edge temporaries.
    out = _canvas_with_legend(canvas.shape, panel, side)
    _draw_label_bands(out, canvas, labels, colors, alpha, ignore_index, border)
    if panel is not None:
        return out
    if title:
        out = add_title(out, title)
    if not len(present):  # say so, rather than showing the bare image
        names = ', '.join(str(n) for n in list(label_names)[:5])
        more = ', ...' if len(label_names) > 5 else ''
        return add_title(out, f'nothing found ({names}{more})' if names else 'nothing found')
    if legend == 'none':
        return out
    side = legend if legend != 'auto' else (
        'right' if out.shape[1] <= 1.6 * out.shape[0] else 'bottom')
    panel = _legend_panel(present, areas, colors, label_names,
                          max(labels.size // (factor * factor), 1), out.shape, side)
    return _attach_legend(out, panel, side)


def _legend_panel(present: np.ndarray, areas: np.ndarray, colors: np.ndarray,
                  label_names: Sequence[str], total: int, shape: tuple[int, ...],
                  side: str) -> np.ndarray:
    """The legend of the present classes, largest area first, for a canvas of ``shape``."""
    order = sorted(range(len(present)), key=lambda i: (-int(areas[i]), int(present[i])))
    entries = []
    for i in order:
        pct = 100.0 * float(areas[i]) / total
        pct_text = '<0.1%' if 0 < pct < 0.1 else f'{pct:.1f}%'
        entries.append((tuple(colors[present[i]]), _name(label_names, int(present[i])),
                        pct_text))
    scale, thickness = font_scale_for(*shape[:2])
    return render_legend(entries, shape[0] if side == 'right' else shape[1], side, scale,
                         thickness)


def _legend_layout_shape(shape: tuple[int, ...], panel: np.ndarray | None,
                         side: str) -> tuple[int, int, int]:
    """(H', W', 3) of a canvas of ``shape`` with ``panel`` beside (right) or below it."""
    height, width = shape[:2]
    if panel is None:
        return height, width, 3
    if side == 'right':
        return max(height, panel.shape[0]), width + panel.shape[1], 3
    return height + panel.shape[0], max(width, panel.shape[1]), 3


def _fill_legend_rows(rows: np.ndarray, start: int, shape: tuple[int, ...],
                      panel: np.ndarray | None, side: str) -> None:
    """Write rows ``start:start + len(rows)`` of the layout of :func:`_legend_layout_shape`
    into ``rows``, all but the canvas part (``[:H, :W]``, left for the caller)."""
    height, width = shape[:2]
    stop = start + len(rows)
    background = np.asarray(BACKGROUND, np.uint8)
    if panel is None:
        return
    if side == 'right':
        below = slice(max(start, height) - start, max(stop, height) - start)
        rows[below, :width] = background
        inside = slice(0, max(start, min(stop, panel.shape[0])) - start)
        rows[inside, width:] = panel[start:start + (inside.stop - inside.start)]
        rows[inside.stop:, width:] = background
        return
    beside = slice(0, max(start, min(stop, height)) - start)
    rows[beside, width:] = background
    first = max(start, height)
    if first < stop:
        part = rows[first - start:]
        part[:, :panel.shape[1]] = panel[first - height:stop - height]
        part[:, panel.shape[1]:] = background


def _canvas_with_legend(shape: tuple[int, ...], panel: np.ndarray | None,
                        side: str) -> np.ndarray:
    """The output array: a canvas of ``shape`` with ``panel`` placed as
    :func:`_attach_legend` places it (the canvas part is left for the caller to fill)."""
    out = np.empty(_legend_layout_shape(shape, panel, side), np.uint8)
    _fill_legend_rows(out, 0, shape, panel, side)
    return out


def _draw_label_bands(out: np.ndarray, canvas: np.ndarray, labels: np.ndarray,
                      colors: np.ndarray, alpha: float, ignore_index: int,
                      boundary_color: Color | None, rows: slice = slice(None)) -> None:
    """Write ``canvas`` with class colours blended over labelled pixels and the borders
    between labels drawn (``boundary_color``, None: none) into ``out[:, :W]``, whose first
    row is row ``rows.start`` of the image, for the image rows ``rows``, a band of
    :data:`_BAND_PIXELS` at a time (:func:`_draw_label_rows`)."""
    height, width = labels.shape
    first, last, _ = rows.indices(height)
    margin = _boundary_line(labels) + 1
    step = max(2 * margin, _BAND_PIXELS // max(1, width))
    for start in range(first, last, step):
        stop = min(last, start + step)
        _draw_label_rows(out[start - first:stop - first, :width], start, canvas, labels,
                         colors, alpha, ignore_index, boundary_color)


def _boundary_line(labels: np.ndarray) -> int:
    """Width in pixels of the class borders of a label map."""
    return max(1, int(round(min(labels.shape) / 500))) if labels.size else 1


def _draw_label_rows(region: np.ndarray, start: int, canvas: np.ndarray, labels: np.ndarray,
                     colors: np.ndarray, alpha: float, ignore_index: int,
                     boundary_color: Color | None) -> None:
    """Rows ``start:start + len(region)`` of the overlay into ``region`` (h, W, 3); the
    labels read ``margin`` rows around them, so borders and their dilation equal the
    whole-image computation."""
    height = labels.shape[0]
    line = _boundary_line(labels)
    kernel = np.ones((line, line), np.uint8) if line > 1 else None
    margin = line + 1
    stop = start + len(region)
    low, high = max(0, start - margin), min(height, stop + margin)
    band = labels[low:high]
    valid = (band != ignore_index) & (band >= 0)
    inner = slice(start - low, stop - low)
    region[...] = canvas[start:stop]
    keep = valid[inner]
    color = colors[np.where(keep, band[inner], 0)]
    region[keep] = _mix(canvas[start:stop], color, alpha)[keep]
    if boundary_color is None:
        return
    regions = np.where(valid, band.astype(np.int64), -1)  # unlabelled: one region
    edges = np.zeros(band.shape, dtype=bool)
    edges[:, 1:] |= regions[:, 1:] != regions[:, :-1]
    edges[1:, :] |= regions[1:, :] != regions[:-1, :]
    if kernel is not None:
        edges = cv2.dilate(edges.astype(np.uint8), kernel).astype(bool)
    region[edges[inner]] = np.asarray(boundary_color, dtype=np.uint8)


def _draw_points(canvas: np.ndarray, points: np.ndarray, colors: np.ndarray,
                 radius: int) -> None:
    """Draw filled circles with a dark outline, in place. ``points`` (M, 2) xy."""
    for (x, y), color in zip(points, colors):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        center = (int(round(x)), int(round(y)))
        cv2.circle(canvas, center, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(canvas, center, radius, tuple(int(c) for c in color), -1, cv2.LINE_AA)


def draw_instances(image: np.ndarray, bboxes: np.ndarray, labels: np.ndarray,
                   scores: np.ndarray | None, label_names: Sequence[str],
                   masks: np.ndarray | None = None, points: np.ndarray | None = None,
                   score_threshold: float = 0.0, alpha: float = 0.5,
                   palette: np.ndarray | None = None, min_size: int = 256,
                   title: str | None = None) -> np.ndarray:
    """Draw instance boxes with ``name score`` tags, optional masks and points.

    Instances are coloured by class (the palette of :func:`draw_sem_seg`) and drawn
    from the lowest score up, so the most confident one ends on top.

    Args:
        image: (H, W, 3) uint8 RGB image.
        bboxes: (N, 4) xyxy boxes in image pixels (N may be 0).
        labels: (N,) class indices.
        scores: (N,) confidences, or None for ground truth (no score in tags).
        label_names: class names indexed by label.
        masks: optional (N, H, W) boolean masks (resized, nearest, if another size).
        points: optional (N, 2) xy point per instance (e.g. a SAM prompt or centre);
            an (M, 2) array with M != N is drawn as loose points in one colour.
        score_threshold: instances with a lower score are not drawn.
        alpha: mask opacity.
        palette: optional (K, 3) uint8 RGB class colours.
        min_size: upscale images whose shorter side is smaller than this.
        title: optional header text.

    Returns:
        (H', W', 3) uint8 RGB image.
    """
    canvas, factor = _prepare(image, min_size)
    boxes = np.asarray(bboxes, dtype=np.float64).reshape(-1, 4)
    num = len(boxes)
    labels_arr = np.asarray(labels, dtype=np.int64).reshape(-1)
    score_arr = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(labels_arr) != num or (score_arr is not None and len(score_arr) != num):
        raise ValueError(f'bboxes ({num}), labels ({len(labels_arr)}) and scores '
                         f'({None if score_arr is None else len(score_arr)}) must match')
    keep = np.ones(num, bool) if score_arr is None else score_arr >= score_threshold
    order = [i for i in (np.argsort(score_arr, kind='stable') if score_arr is not None
                         else range(num)) if keep[i]]
    colors = _class_palette(palette, max(len(label_names), int(labels_arr.max(initial=-1)) + 1))
    inst_colors = colors[np.clip(labels_arr, 0, None)] if num else np.zeros((0, 3), np.uint8)
    height, width = canvas.shape[:2]
    if masks is not None and num:
        # One blend of the top-most (highest-scoring) mask per pixel: overlapping masks never
        # stack into an opaque layer, the photo always shows at weight 1 - alpha.
        mask_arr = np.asarray(masks).astype(bool).reshape(num, *np.shape(masks)[-2:])
        top = np.full((height, width), -1, np.int32)
        for i in order:
            top[nearest_resize(mask_arr[i], height, width)] = i
        covered = top >= 0
        if covered.any():
            canvas = _blend(canvas, inst_colors[np.maximum(top, 0)], alpha, covered)
    scale, thickness = font_scale_for(height, width)
    line = max(2, int(round(min(height, width) / 300)))
    for i in order:
        x1, y1, x2, y2 = (boxes[i] * factor).round().astype(int).tolist()
        cv2.rectangle(canvas, (x1, y1), (x2, y2), tuple(int(c) for c in inst_colors[i]), line)
    placed: list[tuple[int, int, int, int]] = []
    for i in reversed(order):  # the most confident instances get their tags first
        x1, y1, x2, y2 = (boxes[i] * factor).round().astype(int).tolist()
        color = tuple(int(c) for c in inst_colors[i])
        tag = _name(label_names, int(labels_arr[i]))
        if score_arr is not None:
            tag = f'{fit_text(tag, width // 3, scale, thickness)} {score_arr[i]:.2f}'
        tag = fit_text(tag, max(width // 2, 40), scale, thickness)
        tag_w, tag_h, base = text_size(tag, scale, thickness)
        spot = _free_tag_spot((x1, y1, x2, y2), (tag_w + 4, tag_h + base + 4), (width, height),
                              placed)
        if spot is None:  # every candidate place overlaps a tag already drawn: skip this one
            continue
        placed.append((spot[0], spot[1], spot[0] + tag_w + 4, spot[1] + tag_h + base + 4))
        put_text(canvas, tag, spot[0], spot[1], scale, thickness,
                 color=_contrast_text(color), background=color)
    if points is not None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(pts) == num:
            pts, pt_colors = pts[order], inst_colors[order]
        else:
            pt_colors = np.tile(np.array([[255, 40, 40]], np.uint8), (len(pts), 1))
        _draw_points(canvas, pts * factor + (factor - 1) / 2.0, pt_colors,
                     max(2, int(round(min(height, width) / 150))))
    return add_title(canvas, title) if title else canvas


def _free_tag_spot(box: tuple[int, int, int, int], size: tuple[int, int],
                   canvas_size: tuple[int, int], placed: list[tuple[int, int, int, int]]
                   ) -> tuple[int, int] | None:
    """Top-left corner for a tag of ``size`` (w, h) near ``box`` that overlaps no rectangle
    of ``placed``: above the box's top-left corner, inside it, then along the top edge and at
    the bottom; None when every candidate overlaps."""
    x1, y1, x2, y2 = box
    tag_w, tag_h = size
    width, height = canvas_size
    candidates = [(x1, y1 - tag_h), (x1, y1), (x2 - tag_w, y1), (x1, y2 - tag_h), (x1, y2),
                  (x2 - tag_w, y2 - tag_h)]
    step = max(tag_h, 1)
    candidates += [(x1, y1 + k * step) for k in range(1, max(1, (y2 - y1) // step))]
    for x, y in candidates:
        x = int(np.clip(x, 0, max(width - tag_w, 0)))
        y = int(np.clip(y, 0, max(height - tag_h, 0)))
        if all(x + tag_w <= a or a2 <= x or y + tag_h <= b or b2 <= y
               for a, b, a2, b2 in placed):
            return x, y
    return None


def apply_colormap(values: np.ndarray, colormap: str = 'jet') -> np.ndarray:
    """Map values in [0, 1] to RGB colours.

    Args:
        values: (H, W) floats in [0, 1] (clipped; non-finite read as 0).
        colormap: a cv2 colormap name (``'jet'``, ``'viridis'``, ``'inferno'``,
            ``'turbo'``, ``'hot'``...) or, failing that, a matplotlib colormap name.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    vals = np.clip(np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=1.0,
                                 neginf=0.0), 0.0, 1.0)
    cv2_code = getattr(cv2, f'COLORMAP_{colormap.upper()}', None)
    if cv2_code is not None:
        bgr = cv2.applyColorMap(np.round(vals * 255).astype(np.uint8), cv2_code)
        return np.ascontiguousarray(bgr[..., ::-1])
    import matplotlib
    rgba = matplotlib.colormaps[colormap](vals)
    return np.round(rgba[..., :3] * 255).astype(np.uint8)


def _heatmap_canvas(image: np.ndarray, heatmap: np.ndarray, alpha: float, colormap: str,
                    value_range: tuple[float, float] | None,
                    min_size: int) -> tuple[np.ndarray, int, float, float]:
    """Blend a colour-mapped heat map (resized to the image) over the canvas.

    Returns:
        (canvas, scale factor, low, high) where [low, high] is the mapped range.
    """
    canvas, factor = _prepare(image, min_size)
    values = squeeze_2d(heatmap, 'heatmap').astype(np.float64)
    finite = np.isfinite(values)
    if value_range is not None:
        low, high = float(value_range[0]), float(value_range[1])
    elif finite.any():
        low, high = float(values[finite].min()), float(values[finite].max())
    else:
        low, high = 0.0, 1.0
    span = high - low
    if span > 1e-12 and np.isfinite(span):
        norm = (values - low) / span
    else:
        norm = np.zeros_like(values)
    norm = np.where(finite, np.clip(norm, 0.0, 1.0), 0.0).astype(np.float32)
    if norm.size == 0:
        norm = np.zeros((1, 1), np.float32)
    norm = cv2.resize(norm, (canvas.shape[1], canvas.shape[0]), interpolation=cv2.INTER_LINEAR)
    return _blend(canvas, apply_colormap(norm, colormap), alpha), factor, low, high


def _colorbar(height: int, colormap: str, low: float, high: float) -> np.ndarray:
    """A vertical colour bar (high at the top) with three tick labels on its right."""
    scale, thickness = font_scale_for(height, height)
    bar_w = max(8, height // 25)
    pad = max(2, bar_w // 3)
    _, text_h, base = text_size('0', scale, thickness)
    ticks = [(high, 0.0), ((low + high) / 2.0, 0.5), (low, 1.0)]
    texts = [f'{value:.3g}' for value, _ in ticks]
    text_w = max(text_size(t, scale, thickness)[0] for t in texts)
    bar_h = max(height - 2 * pad, 2)
    panel = np.empty((height, pad + bar_w + pad + text_w + 3 * pad, 3), np.uint8)
    panel[...] = np.asarray(BACKGROUND, np.uint8)
    ramp = np.linspace(1.0, 0.0, bar_h)[:, None].repeat(bar_w, axis=1)
    panel[pad:pad + bar_h, pad:pad + bar_w] = apply_colormap(ramp, colormap)
    for text, (_, frac) in zip(texts, ticks):
        y = int(pad + frac * (bar_h - 1))
        cv2.line(panel, (pad + bar_w, y), (pad + bar_w + pad, y), (20, 20, 20), 1)
        ty = int(np.clip(y - (text_h + base) // 2 - 2, 0, max(height - text_h - base - 4, 0)))
        put_text(panel, text, pad + bar_w + pad, ty, scale, thickness)
    return panel


def draw_heatmap(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5,
                 colormap: str = 'jet', value_range: tuple[float, float] | None = None,
                 title: str | None = None, colorbar: bool = True,
                 min_size: int = 256) -> np.ndarray:
    """Overlay a scalar map (anomaly, density, similarity) with a colour bar.

    Args:
        image: (H, W, 3) uint8 RGB image.
        heatmap: (h, w) or (1, h, w) float map, resized (bilinear) to the image.
        alpha: opacity of the colour-mapped map.
        colormap: colormap name, see :func:`apply_colormap`.
        value_range: (low, high) mapped to the colormap ends; default the map's
            finite min/max. A constant map (high == low) is drawn at the low colour.
        title: optional header text (e.g. an image-level anomaly score).
        colorbar: append a colour bar with low / mid / high ticks on the right.
        min_size: upscale images whose shorter side is smaller than this.

    Returns:
        (H', W', 3) uint8 RGB image.
    """
    canvas, _, low, high = _heatmap_canvas(image, heatmap, alpha, colormap, value_range,
                                           min_size)
    return _finish_heatmap(canvas, colormap, low, high, title, colorbar)


def _finish_heatmap(canvas: np.ndarray, colormap: str, low: float, high: float,
                    title: str | None, colorbar: bool) -> np.ndarray:
    if colorbar:
        canvas = hstack([canvas, _colorbar(canvas.shape[0], colormap, low, high)], gap=0)
    return add_title(canvas, title) if title else canvas


def draw_count(image: np.ndarray, density: np.ndarray, count: float,
               points: np.ndarray | None = None, alpha: float = 0.5, colormap: str = 'jet',
               gt_count: float | None = None, title: str | None = None,
               min_size: int = 256) -> np.ndarray:
    """Overlay a density map, optional object points, and the count as a title.

    Args:
        image: (H, W, 3) uint8 RGB image.
        density: (h, w) or (1, h, w) density map (resized to the image for display).
        count: the predicted count shown in the title.
        points: optional (M, 2) xy object locations in image pixels.
        alpha: opacity of the density overlay.
        colormap: colormap name, see :func:`apply_colormap`.
        gt_count: optional ground-truth count shown next to the prediction.
        title: header text; default ``'count: 12.3'`` (``' | gt: 12'`` appended).
        min_size: upscale images whose shorter side is smaller than this.

    Returns:
        (H', W', 3) uint8 RGB image.
    """
    dens = squeeze_2d(density, 'density').astype(np.float64)
    finite = dens[np.isfinite(dens)]
    top = float(finite.max()) if finite.size else 0.0
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    value_range = (low, top) if top > low else None
    canvas, factor, low, high = _heatmap_canvas(image, dens, alpha, colormap, value_range,
                                                min_size)
    if points is not None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        colors = np.tile(np.array([[255, 255, 255]], np.uint8), (len(pts), 1))
        _draw_points(canvas, pts * factor + (factor - 1) / 2.0, colors,
                     max(2, int(round(min(canvas.shape[:2]) / 200))))
    if title is None:
        title = f'count: {float(count):.1f}'
        if gt_count is not None:
            title += f' | gt: {float(gt_count):.1f}'
    return _finish_heatmap(canvas, colormap, low, high, title, True)
