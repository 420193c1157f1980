"""Typesetting pages and the bundled template glyphs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glyph.typeset import _lines, typeset


def test_lines_wrap_and_punctuation_hangs():
    assert [''.join(line) for line in _lines("春眠不觉晓，处处闻啼鸟", 5)] == ["春眠不觉晓，", "处处闻啼鸟"]
    assert [''.join(line) for line in _lines("一二\n三", 5)] == ["一二", "三"]


def test_page_places_ink_where_the_glyphs_go():
    ink = np.ones((8, 8), np.float32)
    ink[2:6, 2:6] = 0.0
    page = typeset("一二\n三", {"一": ink, "二": ink, "三": ink}, columns=2, gap=0.0, leading=0.0, margin=0.0)
    assert page.shape == (16, 16)
    assert page[2:6, 2:6].max() == 0 and page[2:6, 10:14].max() == 0 and page[10:14, 2:6].max() == 0
    assert page[10:14, 10:14].min() == 1.0  # the second line has one glyph only


def test_bundled_templates_need_no_installed_font(monkeypatch):
    from glyph.data import fonts
    from glyph.data import templates as t

    real = fonts.standard_content_face()
    monkeypatch.setattr(fonts, "standard_content_face", lambda: real.__class__(
        Path("/nonexistent/font.ttc"), real.index, real.family, real.style, real.id, real.kind))
    found = t.template_glyphs("永和，😀")
    assert set(found.glyphs) == {"永", "和"} and found.missing == ["，", "😀"]  # a comma is typeset, em fit
    em = t.template_glyphs("，", fit="em")
    assert set(em.glyphs) == {"，"}
    comma = em.glyphs["，"]
    ys, xs = np.nonzero(comma > 128)
    assert ys.min() > 32 and xs.max() < 40  # a comma keeps its place low and left in the em square
