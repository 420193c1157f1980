"""Fonts people can type with: a built font sets a paragraph (CJK, punctuation, digits, Latin) horizontally and
vertically through HarfBuzz, every character maps to a glyph of its own, and the tables pass fontTools."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest

hb = pytest.importorskip("uharfbuzz", reason="the test extra installs uharfbuzz (HarfBuzz shaping)")

HANZI = "永和九年岁在癸丑暮春之初会于稽山阴兰亭修禊事也群贤毕至少长咸集"
SAMPLE = "永和九年，岁在癸丑，暮春之初。「会于会稽山阴之兰亭」：修禊事也！群贤毕至（少长咸集）。Glyph 2.8, 64 px?"


@pytest.fixture(scope="module")
def hanzi():
    from glyph.data.templates import template_glyphs

    return {c: g.astype(np.float32) / 255 for c, g in template_glyphs(HANZI).glyphs.items()}


@pytest.fixture(scope="module", params=[".otf", ".ttf"])
def font(request, hanzi, tmp_path_factory):
    from glyph.font import build_font

    path = tmp_path_factory.mktemp("fonts") / f"hand{request.param}"
    report = build_font(hanzi, path, "Text Hand")
    assert sorted(report.chars) == sorted(hanzi) and not report.skipped
    assert "，" in report.added and "A" in report.latin and report.weight > 0
    return path


def shape(path, text: str, direction: str) -> list[tuple[int, int, int, int, int]]:
    """HarfBuzz glyph ids and positions: (gid, x_advance, y_advance, x_offset, y_offset)."""
    face = hb.Face(hb.Blob.from_file_path(str(path)))
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    buf.direction = direction
    hb.shape(hb.Font(face), buf)
    return [(i.codepoint, p.x_advance, p.y_advance, p.x_offset, p.y_offset)
            for i, p in zip(buf.glyph_infos, buf.glyph_positions, strict=True)]


def render(path, text: str, direction: str = "ltr", size: int = 48, wrap: int = 16) -> np.ndarray:
    """A page of ``text`` shaped by HarfBuzz and filled from the font's outlines (1 = ink): lines of ``wrap``
    characters, left to right (``ltr``) or in columns right to left (``ttb``)."""
    from fontTools.pens.basePen import BasePen
    from PIL import Image, ImageDraw

    face = hb.Face(hb.Blob.from_file_path(str(path)))
    hbfont = hb.Font(face)
    k = size / face.upem

    class Polygons(BasePen):
        def __init__(self) -> None:
            super().__init__(None)
            self.polys: list[list[tuple[float, float]]] = []

        def _moveTo(self, p):
            self.polys.append([p])

        def _lineTo(self, p):
            self.polys[-1].append(p)

        def _curveToOne(self, p1, p2, p3):
            p0 = self._getCurrentPoint()
            for t in np.linspace(0.125, 1, 8):
                m = 1 - t
                self.polys[-1].append(tuple(m**3 * np.array(p0) + 3 * m * m * t * np.array(p1)
                                            + 3 * m * t * t * np.array(p2) + t**3 * np.array(p3)))

    lines = [text[i:i + wrap] for i in range(0, len(text), wrap)]
    vertical = direction == "ttb"
    pitch = round(size * 1.25)
    across, along = pitch * len(lines) + size, size * (wrap + 2)
    w, h = (across, along) if vertical else (along, across)
    page = np.zeros((h, w), bool)
    for n, line in enumerate(lines):
        buf = hb.Buffer()
        buf.add_str(line)
        buf.guess_segment_properties()
        buf.direction = direction
        hb.shape(hbfont, buf)
        # pen position in font units, y up; a vertical line starts at the top of its column (right to left)
        x = (w - pitch * (n + 1)) / k if vertical else size / 2 / k
        y = (h - size / 2) / k if vertical else (h - pitch * (n + 1)) / k
        for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
            pen = Polygons()
            hbfont.draw_glyph_with_pen(info.codepoint, pen)
            ox, oy = x + pos.x_offset, y + pos.y_offset
            for poly in pen.polys:
                if len(poly) < 3:
                    continue
                mask = Image.new("1", (w, h), 0)
                ImageDraw.Draw(mask).polygon([((ox + px) * k, h - (oy + py) * k) for px, py in poly], fill=1)
                page ^= np.asarray(mask)  # even-odd: holes cut out of their outer contour
            x, y = x + pos.x_advance, y + pos.y_advance
    return page.astype(np.float32)


def test_every_character_of_a_sample_text_has_its_own_glyph(font):
    from fontTools.ttLib import TTFont

    cmap = TTFont(font).getBestCmap()
    missing = [c for c in SAMPLE if ord(c) not in cmap]
    assert not missing, f"no glyph for {missing}"
    for direction in ("ltr", "ttb"):
        glyphs = shape(font, SAMPLE, direction)
        assert len(glyphs) == len(SAMPLE) and all(gid != 0 for gid, *_ in glyphs)  # no .notdef, no fallback


def test_vertical_text_advances_down_and_uses_vertical_punctuation(font):
    from fontTools.ttLib import TTFont

    order = TTFont(font).getGlyphOrder()
    glyphs = shape(font, "永，「和」。", "ttb")
    assert all(xa == 0 and ya == -1000 for _, xa, ya, _, _ in glyphs)  # one em down per character
    names = [order[gid] for gid, *_ in glyphs]
    assert names[1] == "uniFF0C.vert" and names[2] == "uni300C.vert" and names[5] == "uni3002.vert"
    assert [order[gid] for gid, *_ in shape(font, "，「", "ltr")] == ["uniFF0C", "uni300C"]
    latin = shape(font, "Ag 28", "ltr")
    assert 0 < latin[0][1] < 1000 and all(ya == 0 for _, _, ya, _, _ in latin)  # proportional Latin


def test_font_passes_fonttools_validation(font, caplog):
    from fontTools.ttLib import TTFont

    f = TTFont(font)
    with caplog.at_level(logging.WARNING, logger="fontTools"):
        for tag in f.keys():
            if tag != "GlyphOrder":
                f[tag].compile(f)  # every table compiles again
        f.saveXML(io.StringIO())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    order = f.getGlyphOrder()
    assert "vhea" in f and "vmtx" in f and f["vhea"].numberOfVMetrics <= len(order)
    assert set(f["vmtx"].metrics) == set(order) == set(f["hmtx"].metrics)
    assert all(adv == 1000 for adv, _ in f["vmtx"].metrics.values())
    assert f["vhea"].advanceHeightMax == 1000 and f["vhea"].ascent - f["vhea"].descent == 1000
    assert f["post"].formatType in (2.0, 3.0) and f["maxp"].numGlyphs == len(order)
    os2 = f["OS/2"]
    assert 100 <= os2.usWeightClass <= 900 and os2.ulCodePageRange1 & (1 << 18)  # GB2312
    assert os2.ulUnicodeRange1 & 1 and os2.ulUnicodeRange2 & (1 << (59 - 32))  # Basic Latin, CJK ideographs
    assert "Bitstream Vera licence" in f["name"].getDebugName(13)
    from fontTools.pens.boundsPen import BoundsPen

    pen = BoundsPen(f.getGlyphSet())
    f.getGlyphSet()[".notdef"].draw(pen)
    assert pen.bounds is not None  # a visible box, not an empty .notdef
    # the font's own extents are the union of its glyphs'
    head = f["head"]
    assert head.yMin <= -100 and head.yMax >= 800 and head.xMin < head.xMax


def test_a_paragraph_sets_horizontally_and_vertically(font):
    across = render(font, SAMPLE, "ltr")
    down = render(font, SAMPLE, "ttb")
    assert across.shape[1] > across.shape[0] and down.shape[0] > down.shape[1]
    for page in (across, down):
        assert 0.04 < page.mean() < 0.4  # ink, and not boxes
    # the column is filled top to bottom: ink in the lower half of the first (rightmost) column
    first_column = down[:, -round(48 * 1.25):]
    assert first_column[down.shape[0] // 2:].mean() > 0.02


def test_cjk_only_leaves_out_what_the_writer_did_not_write(hanzi, tmp_path):
    from fontTools.ttLib import TTFont

    from glyph.font import build_font

    report = build_font(hanzi, tmp_path / "cjk.otf", "Only Hand", cjk_only=True)
    assert not report.added and not report.latin
    cmap = TTFont(tmp_path / "cjk.otf").getBestCmap()
    assert ord("A") not in cmap and ord("，") not in cmap and ord("永") in cmap and 0x3000 in cmap


def test_tracing_in_parallel_writes_the_same_font(hanzi, tmp_path, monkeypatch):
    from glyph.font import build, build_font

    monkeypatch.setattr(build, "PARALLEL_MIN", 8)  # the hanzi alone are fewer than a pool is worth
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # the same timestamps in both files
    seen: list[tuple[int, int]] = []
    build_font(hanzi, tmp_path / "one.otf", "Same Hand", workers=1)
    build_font(hanzi, tmp_path / "two.otf", "Same Hand", workers=2, progress=lambda d, t: seen.append((d, t)))
    assert (tmp_path / "one.otf").read_bytes() == (tmp_path / "two.otf").read_bytes()
    assert seen[-1] == (len(hanzi), len(hanzi)) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_curves_are_smooth_enough_for_large_sizes():
    from glyph.font.trace import trace

    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(xx - 31.5, yy - 31.5)
    disc = np.clip(20.5 - r, 0, 1)  # an anti-aliased disc of radius 20 px
    (c,) = trace(disc)
    t = np.linspace(0, 1, 50)[:, None]
    pts = np.concatenate([(1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * c1 + 3 * (1 - t) * t**2 * c2 + t**3 * p3
                          for p0, c1, c2, p3 in c.segments])
    radius = np.hypot(pts[:, 0] - 31.5, pts[:, 1] - 31.5)
    assert np.ptp(radius) < 0.35  # round within 1.4 px when drawn at 256 px
    assert len(c.segments) <= 6  # a few long curves, not a polygon
    for (_, _, c2, p3), (q0, q1, _, _) in zip(c.segments, c.segments[1:] + c.segments[:1], strict=True):
        a, b = p3 - c2, q1 - q0  # the tangents either side of each join, the seam included
        cos = float(a @ b) / (np.hypot(*a) * np.hypot(*b))
        assert cos > np.cos(np.radians(2)), "a kink in a smooth outline"
