"""Unicode class names render with TrueType fonts from the dependencies, not as '?'."""
from __future__ import annotations

import numpy as np
import pytest

from ovperception.visualization import draw_instances, draw_sem_seg
from ovperception.visualization.fonts import font_file_for, missing_glyphs


def legend_of(name: str) -> np.ndarray:
    image = np.full((64, 64, 3), 128, np.uint8)
    return draw_sem_seg(image, np.zeros((64, 64), np.int64), [name])


def tag_of(name: str) -> np.ndarray:
    image = np.full((64, 64, 3), 128, np.uint8)
    return draw_instances(image, np.array([[5.0, 20.0, 60.0, 60.0]]), np.array([0]),
                          np.array([0.5]), [name])


@pytest.mark.parametrize('draw', [legend_of, tag_of])
@pytest.mark.parametrize('first, second', [('猫', '狗'), ('🐱', '😀'), ('猫', '?'),
                                           ('🐱', '?'), ('café', 'cafe')])
def test_unicode_names_are_drawn_as_themselves(draw, first, second):
    """Different characters give different pixels; none of them is drawn as '?'."""
    assert not missing_glyphs(first)
    assert not np.array_equal(draw(first), draw(second))


def test_fonts_come_from_dependencies():
    assert 'DejaVuSans' in font_file_for('a')
    assert font_file_for('猫') is not None  # a CJK fallback (mplfonts in .[annotate])


def test_missing_glyph_is_named_and_drawn_as_question_mark():
    private = '\ue000'  # private-use: no font maps it
    assert missing_glyphs(f'x{private}') == [private]
    assert np.array_equal(legend_of(private), legend_of('?'))


def test_missing_glyph_hint_names_what_would_help(monkeypatch):
    """Issue #23, item 10: no advice to install what is installed (mplfonts) or what
    would not help (a colour bitmap emoji font)."""
    from ovperception.visualization import fonts
    monkeypatch.setattr(fonts, '_mplfonts_files', lambda: ['NotoSansCJKsc-Regular.otf'])
    assert 'mplfonts' not in fonts.font_hint(['🐶', '猫'])
    assert 'Symbola' in fonts.font_hint(['🐶']) and 'Color' not in fonts.font_hint(['🐶'])
    monkeypatch.setattr(fonts, '_mplfonts_files', lambda: [])
    assert 'mplfonts' in fonts.font_hint(['猫']) and 'Symbola' not in fonts.font_hint(['猫'])
