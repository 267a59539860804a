"""Canvas primitives shared by the overlay functions: image normalisation,
text, panel stacking, titles and legends.

All images are RGB ``uint8`` arrays of shape (H, W, 3). ASCII text is drawn with
``cv2.putText`` (Hershey fonts, no font file); any other text (Chinese class names,
emoji, accents) with TrueType fonts from the dependencies (``fonts.py``: matplotlib's
DejaVu Sans, then CJK fonts), at the same line height, so names are never ``?``.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Sequence

import cv2
import numpy as np

from . import fonts

FONT = cv2.FONT_HERSHEY_SIMPLEX
ELLIPSIS = '...'
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (20, 20, 20)

Color = tuple[int, int, int]


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Return a contiguous (H, W, 3) uint8 copy of an image.

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array; floats with a maximum
            <= 1 are read as [0, 1] and scaled to [0, 255]; other values are clipped.

    Returns:
        (H, W, 3) uint8 RGB array (alpha dropped, grey replicated).
    """
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f'expected an (H, W[, C]) image, got shape {img.shape}')
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        img = np.nan_to_num(img, nan=0.0, posinf=255.0, neginf=0.0)
        if img.size and img.max() <= 1.0:
            img = img * 255.0
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img).copy()


def ascii_text(text: object) -> str:
    """Make any value printable by cv2's ASCII fonts.

    Accents are stripped (``'café' -> 'cafe'``), other non-ASCII characters become
    ``'?'`` and control characters (newlines, tabs) become spaces.
    """
    decomposed = unicodedata.normalize('NFKD', str(text))
    chars = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ord(ch) < 32 or ord(ch) == 127:
            chars.append(' ')
        elif ord(ch) < 128:
            chars.append(ch)
        else:
            chars.append('?')
    return ''.join(chars).strip()


def display_text(text: object) -> str:
    """``text`` as one drawable line: control characters (newlines, tabs) become spaces,
    characters that no available font has become ``?`` (named in a warning)."""
    line = ''.join(' ' if ord(ch) < 32 or ord(ch) == 127 else ch for ch in str(text)).strip()
    return line if line.isascii() else fonts.drawable_text(line)


def _is_ascii(text: str) -> bool:
    return text.isascii()


def _truetype_size(scale: float, thickness: int) -> int:
    """TrueType pixel size (em) that sits with cv2's text at ``scale``: 1.1 x cv2's cap
    height, so Latin runs are about as wide as Hershey's (DejaVu Sans is wider per em)
    and CJK glyphs about as tall as cv2's capitals."""
    (_, cap_height), _ = cv2.getTextSize('H', FONT, scale, thickness)
    return max(8, int(round(cap_height * 1.1)))


def font_scale_for(height: int, width: int) -> tuple[float, int]:
    """Pick a legible cv2 font scale and stroke thickness for a canvas size.

    Returns:
        (font_scale, thickness).
    """
    scale = float(np.clip(math.sqrt(max(height * width, 1)) / 900.0, 0.4, 1.0))
    return scale, 1 if scale < 0.9 else 2


def text_size(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    """Return (width, height, baseline) in pixels of ``text``; non-ASCII text has the
    height and baseline of ASCII text at this scale and its TrueType width."""
    if _is_ascii(text):
        (w, h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
        return w, h, baseline
    (_, h), baseline = cv2.getTextSize('Ag', FONT, scale, thickness)
    return fonts.text_width(text, _truetype_size(scale, thickness)), h, baseline


def fit_text(text: object, max_width: int, scale: float, thickness: int) -> str:
    """One-line ``text`` truncated with ``'...'`` to fit ``max_width`` pixels."""
    text = display_text(text)
    if text_size(text, scale, thickness)[0] <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits together with the ellipsis
        mid = (lo + hi + 1) // 2
        if text_size(text[:mid].rstrip() + ELLIPSIS, scale, thickness)[0] <= max_width:
            lo = mid
        else:
            hi = mid - 1
    if lo == 0:
        return ELLIPSIS if text_size(ELLIPSIS, scale, thickness)[0] <= max_width else ''
    return text[:lo].rstrip() + ELLIPSIS


def put_text(img: np.ndarray, text: str, x: int, y: int, scale: float, thickness: int,
             color: Color = TEXT_COLOR, background: Color | None = None,
             pad: int = 2) -> tuple[int, int]:
    """Draw text in place with its box's top-left corner at (x, y) (TrueType when not ASCII).

    Args:
        img: (H, W, 3) uint8 canvas, modified in place.
        text: the text (made one line here).
        x, y: top-left corner of the text box in pixels.
        scale, thickness: cv2 font scale and stroke thickness.
        color: RGB text colour.
        background: optional RGB colour of a filled box behind the text.
        pad: padding in pixels of the background box.

    Returns:
        (width, height) of the drawn box including padding.
    """
    text = display_text(text)
    w, h, base = text_size(text, scale, thickness)
    box_w, box_h = w + 2 * pad, h + base + 2 * pad
    if background is not None:
        cv2.rectangle(img, (x, y), (x + box_w - 1, y + box_h - 1), background, -1)
    if _is_ascii(text):
        cv2.putText(img, text, (x + pad, y + pad + h), FONT, scale, color, thickness,
                    cv2.LINE_AA)
    else:
        fonts.draw_text(img, text, x + pad, y + pad + h, _truetype_size(scale, thickness),
                        color)
    return box_w, box_h


def pad_to(img: np.ndarray, height: int, width: int, value: Color = BACKGROUND) -> np.ndarray:
    """Pad an image at the bottom/right to (height, width) with a constant colour."""
    h, w = img.shape[:2]
    if h >= height and w >= width:
        return img
    out = np.empty((max(h, height), max(w, width), 3), dtype=np.uint8)
    out[...] = np.asarray(value, dtype=np.uint8)
    out[:h, :w] = img
    return out


def _stack(panels: Sequence[np.ndarray], axis: int, gap: int, value: Color) -> np.ndarray:
    """Concatenate panels along ``axis`` (0 rows, 1 columns), padding the other axis."""
    other = max(p.shape[1 - axis] for p in panels)
    parts: list[np.ndarray] = []
    for i, panel in enumerate(panels):
        size = [0, 0]
        size[1 - axis] = other
        if i and gap:
            size[axis] = gap
            parts.append(pad_to(np.zeros((0, 0, 3), np.uint8), size[0], size[1], value))
        size[axis] = panel.shape[axis]
        parts.append(pad_to(panel, size[0], size[1], value))
    return np.concatenate(parts, axis=axis)


def hstack(panels: Sequence[np.ndarray], gap: int = 4, value: Color = BACKGROUND) -> np.ndarray:
    """Place panels side by side (top-aligned), padding heights, with a gap between."""
    return _stack(panels, 1, gap, value)


def vstack(panels: Sequence[np.ndarray], gap: int = 4, value: Color = BACKGROUND) -> np.ndarray:
    """Stack panels vertically (left-aligned), padding widths, with a gap between."""
    return _stack(panels, 0, gap, value)


def add_title(img: np.ndarray, title: str, scale: float | None = None,
              thickness: int | None = None) -> np.ndarray:
    """Return ``img`` with a white header strip holding ``title`` (truncated to fit)."""
    if scale is None or thickness is None:
        scale, thickness = font_scale_for(*img.shape[:2])
    text = fit_text(title, img.shape[1] - 8, scale, thickness)
    _, h, base = text_size(text or 'Ag', scale, thickness)
    strip = np.empty((h + base + 8, img.shape[1], 3), dtype=np.uint8)
    strip[...] = np.asarray(BACKGROUND, dtype=np.uint8)
    put_text(strip, text, 2, 2, scale, thickness)
    return np.concatenate([strip, img], axis=0)


def render_legend(entries: Sequence[tuple[Color, str, str]], extent: int, side: str,
                  scale: float, thickness: int, max_name_chars: int = 24,
                  max_entries: int = 120) -> np.ndarray:
    """Render a legend panel: one row per entry, ``[swatch] name  value``.

    Swatches are filled with the exact entry colour (no anti-aliasing), so the panel
    can be checked for class colours pixel-wise.

    Args:
        entries: (rgb colour, name, value text) per row, in display order.
        extent: the panel's height for ``side='right'`` (rows wrap into more columns
            when they do not fit) or its width for ``side='bottom'`` (as many columns as
            fit, filled row by row).
        side: ``'right'`` or ``'bottom'``.
        scale, thickness: cv2 font scale and stroke thickness.
        max_name_chars: names longer than this many characters are truncated with '...'.
        max_entries: rows beyond this are summarised in a final ``'+N more'`` row.

    Returns:
        (h, w, 3) uint8 panel with a white background.
    """
    rows = [(tuple(int(c) for c in col), display_text(n), display_text(v))
            for col, n, v in entries]
    if len(rows) > max_entries:
        extra = len(rows) - (max_entries - 1)
        rows = rows[:max_entries - 1] + [(BACKGROUND, f'+{extra} more', '')]
    _, text_h, base = text_size('Ag', scale, thickness)
    pad = max(2, int(round(4 * scale)))
    row_h = text_h + base + 2 * pad
    swatch = text_h + base
    name_w = text_size('M' * max_name_chars, scale, thickness)[0] * 3 // 5
    names = [fit_text(n, name_w, scale, thickness) for _, n, _ in rows]
    name_w = max([text_size(n, scale, thickness)[0] for n in names] + [1])
    value_w = max([text_size(v, scale, thickness)[0] for _, _, v in rows] + [0])
    col_w = pad + swatch + pad + name_w + (3 * pad + value_w if value_w else 0) + 2 * pad
    n = max(len(rows), 1)
    if side == 'right':
        per_col = max(1, (extent - pad) // row_h)
        n_cols = math.ceil(n / per_col)
        n_rows = min(n, per_col)
    elif side == 'bottom':
        n_cols = max(1, min(n, (extent - pad) // col_w))
        n_rows = math.ceil(n / n_cols)
    else:
        raise ValueError(f"legend side must be 'right' or 'bottom', got {side!r}")
    panel = np.empty((n_rows * row_h + pad, n_cols * col_w + pad, 3), dtype=np.uint8)
    panel[...] = np.asarray(BACKGROUND, dtype=np.uint8)
    for i, ((color, _, value), name) in enumerate(zip(rows, names)):
        r, c = (i % n_rows, i // n_rows) if side == 'right' else (i // n_cols, i % n_cols)
        x0, y0 = pad + c * col_w, pad + r * row_h
        if color != BACKGROUND:
            panel[y0 + pad:y0 + pad + swatch, x0:x0 + swatch] = np.asarray(color, np.uint8)
            cv2.rectangle(panel, (x0 - 1, y0 + pad - 1), (x0 + swatch, y0 + pad + swatch),
                          TEXT_COLOR, 1)
        put_text(panel, name, x0 + swatch + pad, y0 + pad - 2, scale, thickness)
        if value:
            put_text(panel, value, x0 + swatch + 3 * pad + name_w, y0 + pad - 2, scale,
                     thickness, color=(90, 90, 90))
    return panel


def nearest_resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize of the first two axes, for any dtype (labels, masks)."""
    h, w = array.shape[:2]
    if (h, w) == (height, width):
        return array
    rows = np.minimum((np.arange(height) * h) // max(height, 1), h - 1)
    cols = np.minimum((np.arange(width) * w) // max(width, 1), w - 1)
    return array[rows[:, None], cols[None, :]]


#: Upscaling for legibility never makes the longer side exceed this (or its own length):
#: a 3x5000 strip stays 3x5000 instead of becoming 258x430000 (a 111-megapixel overlay).
MAX_UPSCALED_SIDE = 2048


def upscale_factor(height: int, width: int, min_size: int) -> int:
    """Integer factor that brings the shorter side of an image up to ``min_size``, capped so
    that the longer side stays within ``max(MAX_UPSCALED_SIDE, its length)``."""
    if min_size <= 0:
        return 1
    short, long = max(min(height, width), 1), max(height, width, 1)
    wanted = math.ceil(min_size / short)
    return max(1, min(wanted, max(MAX_UPSCALED_SIDE, long) // long))
