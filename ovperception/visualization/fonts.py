"""TrueType text for overlays: any Unicode class name, not only ASCII.

Fonts come from dependencies, never from the network: matplotlib's DejaVu Sans (Latin,
Greek, Cyrillic, many symbols and some emoji such as U+1F600 and U+1F431), then CJK fonts
found by matplotlib's font manager on the system (Noto/Source Han CJK, WenQuanYi, SimHei,
Droid Sans Fallback, AR PL ...) or shipped by the ``mplfonts`` package (extra ``annotate``;
Noto Sans CJK SC), then emoji/symbol fonts installed on the system. Each character is
drawn with the first font whose character map holds it; characters that no font holds
are drawn as ``?`` and named once in a warning (:func:`missing_glyphs` lists them).
"""
from __future__ import annotations

import functools
import os
import re
from typing import Sequence

import numpy as np
from matplotlib import font_manager
from mmengine.logging import print_log
from PIL import Image, ImageDraw, ImageFont

#: Family names (regular expressions) of system fonts tried after DejaVu Sans, in order.
FALLBACK_FAMILIES = (r'Noto Sans CJK', r'Noto Sans SC', r'Source Han Sans', r'WenQuanYi',
                     r'SimHei', r'Microsoft YaHei', r'PingFang', r'Hiragino Sans',
                     r'Droid Sans Fallback', r'AR PL', r'Noto Sans Mono CJK',
                     r'Noto Color Emoji', r'Noto Emoji', r'Symbola', r'Segoe UI Emoji')

_WARNED: set[str] = set()


def _mplfonts_files() -> list[str]:
    try:
        import mplfonts
    except ImportError:
        return []
    folder = os.path.join(os.path.dirname(mplfonts.__file__), 'fonts')
    preferred = ('NotoSansCJKsc-Regular.otf', 'SimHei.ttf')
    return [os.path.join(folder, name) for name in preferred
            if os.path.isfile(os.path.join(folder, name))]


@functools.lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """Font files tried in order: DejaVu Sans, system CJK/emoji fonts, mplfonts' CJK."""
    files = [str(font_manager.findfont(font_manager.FontProperties(family='DejaVu Sans'),
                                       fallback_to_default=True))]
    entries = font_manager.fontManager.ttflist
    for pattern in FALLBACK_FAMILIES:
        for entry in entries:
            if re.match(pattern, entry.name) and entry.fname not in files and \
                    entry.style == 'normal':
                files.append(entry.fname)
    files.extend(f for f in _mplfonts_files() if f not in files)
    return tuple(files)


@functools.lru_cache(maxsize=None)
def _character_map(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont
    try:
        with TTFont(path, lazy=True, fontNumber=0) as font:
            return frozenset(font.getBestCmap() or {})
    except Exception:  # an unreadable font file is simply not used
        return frozenset()


def font_file_for(char: str) -> str | None:
    """The first font file whose character map holds ``char`` (None: no font has it)."""
    code = ord(char)
    return next((path for path in font_files() if code in _character_map(path)), None)


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` that no available font can draw (in order, unique)."""
    return list(dict.fromkeys(c for c in text if not c.isspace() and font_file_for(c) is None))


@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return 0x2E80 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF \
        or 0x20000 <= code <= 0x3FFFF


def font_hint(missing: list[str]) -> str:
    """What would draw ``missing``: mplfonts for CJK when it is not installed, a
    monochrome emoji font for emoji and symbols (colour bitmap emoji fonts such as Noto
    Color Emoji cannot be drawn at label sizes), else any font covering them."""
    hints = []
    if any(_is_cjk(c) for c in missing) and not _mplfonts_files():
        hints.append('pip install mplfonts for CJK')
    if any(not _is_cjk(c) and ord(c) > 0x2000 for c in missing):
        hints.append('a monochrome emoji/symbol font such as Symbola (Debian: fonts-symbola)')
    return 'install ' + (' or '.join(hints) if hints else 'a font covering them')


def drawable_text(text: str) -> str:
    """``text`` with every character no font can draw replaced by ``?`` (the characters
    are named once in a warning)."""
    missing = missing_glyphs(text)
    if not missing:
        return text
    if ''.join(missing) not in _WARNED:
        _WARNED.add(''.join(missing))
        print_log(f'no installed font has a glyph for {" ".join(missing)} '
                  f'({", ".join(f"U+{ord(c):04X}" for c in missing)}); drawn as "?" '
                  f'({font_hint(missing)})',
                  logger='current', level=30)
    return ''.join('?' if c in missing else c for c in text)


def font_runs(text: str) -> list[tuple[str, str]]:
    """``text`` split into ``(font file, run)`` pieces, each in the first font having it."""
    runs: list[tuple[str, str]] = []
    for char in drawable_text(text):
        path = (font_file_for(char) if not char.isspace() else None) or font_files()[0]
        if runs and runs[-1][0] == path:
            runs[-1] = (path, runs[-1][1] + char)
        else:
            runs.append((path, char))
    return runs


def text_width(text: str, size: int) -> int:
    """Width in pixels of ``text`` drawn at font ``size`` (pixels per em)."""
    return int(np.ceil(sum(_font(path, size).getlength(run) for path, run in font_runs(text))))


def draw_text(img: np.ndarray, text: str, x: int, baseline_y: int, size: int,
              color: Sequence[int]) -> None:
    """Draw ``text`` in place on an (H, W, 3) uint8 RGB canvas, left end at ``x`` and its
    baseline at ``baseline_y``, each character in the first font that has it."""
    if not text:
        return
    width = text_width(text, size) + 2
    top, bottom = max(baseline_y - size - 2, 0), min(baseline_y + size // 2 + 2, img.shape[0])
    left, right = max(x, 0), min(x + width, img.shape[1])
    if right <= left or bottom <= top:
        return
    patch = Image.fromarray(np.ascontiguousarray(img[top:bottom, left:right]))
    draw = ImageDraw.Draw(patch)
    cursor = float(x - left)
    for path, run in font_runs(text):
        font = _font(path, size)
        draw.text((cursor, baseline_y - top), run, font=font, fill=tuple(int(c) for c in color),
                  anchor='ls')
        cursor += font.getlength(run)
    img[top:bottom, left:right] = np.asarray(patch)
