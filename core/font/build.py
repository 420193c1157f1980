"""Build an installable OpenType font (CFF ``.otf`` or TrueType ``.ttf``) from glyph bitmaps with fontTools.

Each bitmap is the character's em square (glyph's 64 px images are drawn with the em box spanning the
canvas), traced to cubic outlines (:mod:`glyph.font.trace`), mapped to font units with the ideographic em
box from the descender (-1/8 of the em) to the ascender (7/8; Source Han Sans uses 0.12/0.88, but 1/8 puts
the baseline on a pixel at 64 px, so the font renders back onto its source bitmaps), and given a
full-width advance. ``.otf`` keeps the cubic curves in a CFF table (outer contours
counter-clockwise); ``.ttf`` converts them to quadratic curves (cu2qu, within 1 unit) in a glyf table
(outer contours clockwise). The font has a .notdef box, spaces (U+0020 half width, U+3000 full width),
a Unicode cmap, name, OS/2 (CJK code page and Unicode ranges, installable embedding), hhea/vhea-free
horizontal metrics and a post table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GlyphError
from .trace import Contour, orient, trace

ASCENT, DESCENT = 0.875, 0.125  # of the em: 7/8 above the baseline, so 64 px (and 8k px) baselines fall on a pixel


@dataclass
class FontReport:
    """What a build made: the file, the characters in it, and characters left out with the reason."""

    path: Path
    chars: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def glyph_name(ch: str) -> str:
    """The AGL-style production name: uniXXXX in the BMP, uXXXXX beyond it."""
    cp = ord(ch)
    return f"uni{cp:04X}" if cp <= 0xFFFF else f"u{cp:05X}"


def ps_name(family: str, style: str) -> str:
    """A PostScript name: printable ASCII without spaces or brackets, at most 63 characters."""
    raw = f"{family}-{style}"
    clean = re.sub(r"[^A-Za-z0-9\-]", "", raw.replace(" ", ""))
    return (clean or "GlyphFont-Regular")[:63]


def _to_units(contours: list[Contour], size: int, em: int) -> list[list[tuple]]:
    """Contours in image pixels -> lists of cubic segments in font units (y up, em box mapped to the canvas)."""
    k = em / size
    base = DESCENT * em

    def tr(p: np.ndarray) -> tuple[float, float]:
        return (float(p[0] + 0.5) * k, (size - float(p[1] + 0.5)) * k - base)

    return [[tuple(tr(p) for p in seg) for seg in c.segments] for c in contours]


def _draw(pen, contours: list[list[tuple]], quadratic: bool) -> None:
    for segs in contours:
        if not segs:
            continue
        rnd = [[(round(x), round(y)) for x, y in seg] for seg in segs]
        pen.moveTo(rnd[0][0])
        for _, c1, c2, p3 in rnd:
            pen.curveTo(c1, c2, p3)
        pen.closePath()


def outlines(bitmap: np.ndarray, em: int, tolerance: float = 0.25) -> tuple[list[Contour], list[list[tuple]]]:
    """Trace a display or ink bitmap (floats, 1 = ink) and return its contours in pixels and font units."""
    contours = orient(trace(bitmap, tolerance=tolerance), outer_positive=False)  # y down: flips with the axis
    return contours, _to_units(contours, bitmap.shape[0], em)


def build_font(glyphs: dict[str, np.ndarray], out: str | Path, family: str, style: str = "Regular", em: int = 1000,
               version: str = "1.000", progress: Callable[[int, int], None] | None = None) -> FontReport:
    """Write a font of ``glyphs`` (character -> square bitmap, floats in [0, 1] with 1 = ink) to ``out``.

    The format follows the suffix: ``.otf`` (CFF, cubic) or ``.ttf`` (glyf, quadratic). The file is written
    atomically. Characters whose bitmap has no ink are skipped and reported. ``progress(done, total)`` is called
    as the glyphs are traced (the long part: about 4 minutes for GB2312 level 1 here).
    """
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.t2CharStringPen import T2CharStringPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    from ..imageio import atomic_output

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".otf", ".ttf"):
        raise GlyphError(f"give the font file a .otf (CFF outlines) or .ttf (TrueType outlines) name, not {out.name}")
    if not 16 <= em <= 16384:
        raise GlyphError(f"--em must be between 16 and 16384 units, got {em}")
    if not family.strip():
        raise GlyphError("the font needs a --name")
    quadratic = suffix == ".ttf"
    report = FontReport(out)
    drawn: dict[str, list[list[tuple]]] = {}
    for i, (ch, bitmap) in enumerate(sorted(glyphs.items())):
        if progress is not None and i % 16 == 0:
            progress(i, len(glyphs))
        a = np.asarray(bitmap, np.float32)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            report.skipped.append((ch, f"bitmap is {a.shape}, not a square grey image"))
            continue
        _, units = outlines(a, em)
        if not units:
            report.skipped.append((ch, "no ink to trace"))
            continue
        drawn[ch] = units
    if progress is not None:
        progress(len(glyphs), len(glyphs))
    if not drawn:
        raise GlyphError("none of the glyphs has ink to trace; nothing to put in a font")
    order = [".notdef", "space", "uni3000", *(glyph_name(ch) for ch in drawn)]
    cmap = {0x20: "space", 0x3000: "uni3000", **{ord(ch): glyph_name(ch) for ch in drawn}}
    asc, desc = round(ASCENT * em), round(DESCENT * em)
    fb = FontBuilder(em, isTTF=quadratic)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap(cmap)

    def notdef(pen) -> None:
        m = em // 10
        pen.moveTo((m, -desc + m))
        pen.lineTo((m, asc - m))
        pen.lineTo((em - m, asc - m))
        pen.lineTo((em - m, -desc + m))
        pen.closePath()
        pen.moveTo((2 * m, -desc + 2 * m))
        pen.lineTo((em - 2 * m, -desc + 2 * m))
        pen.lineTo((em - 2 * m, asc - 2 * m))
        pen.lineTo((2 * m, asc - 2 * m))
        pen.closePath()

    widths = {".notdef": em, "space": em // 2, "uni3000": em}
    if quadratic:
        glyf = {}
        for name in order:
            pen = TTGlyphPen(None)
            if name == ".notdef":
                notdef(pen)
            elif name not in ("space", "uni3000"):
                _draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True), drawn[_char(name)], True)
            glyf[name] = pen.glyph()
        fb.setupGlyf(glyf)
    else:
        charstrings = {}
        for name in order:
            pen = T2CharStringPen(widths.get(name, em), None)
            if name == ".notdef":
                notdef(_Reverse(pen))  # drawn clockwise (TrueType); PostScript outlines run the other way
            elif name not in ("space", "uni3000"):
                _draw(pen, drawn[_char(name)], False)
            charstrings[name] = pen.getCharString()
        fb.setupCFF(ps_name(family, style), {"FullName": f"{family} {style}"}, charstrings, {})
    metrics = {}
    for name in order:
        width = widths.get(name, em)
        if quadratic:
            g = fb.font["glyf"][name]
            lsb = getattr(g, "xMin", 0) if g.numberOfContours else 0
        else:
            bounds = fb.font["CFF "].cff.topDictIndex[0].CharStrings[name].calcBounds(None)
            lsb = round(bounds[0]) if bounds else 0
        metrics[name] = (width, lsb)
    fb.setupHorizontalMetrics(metrics)
    fb.setupHorizontalHeader(ascent=asc, descent=-desc, lineGap=0)
    unique = f"{version};GLYPH;{ps_name(family, style)}"
    fb.setupNameTable({"familyName": family, "styleName": style, "uniqueFontIdentifier": unique,
                       "fullName": f"{family} {style}", "psName": ps_name(family, style),
                       "version": f"Version {version}"})
    fb.setupOS2(sTypoAscender=asc, sTypoDescender=-desc, sTypoLineGap=0, usWinAscent=asc, usWinDescent=desc,
                fsType=0, achVendID="GLYF", ulUnicodeRange1=0, ulUnicodeRange2=(1 << (59 - 32)),
                ulCodePageRange1=(1 << 18), xAvgCharWidth=em, sxHeight=round(0.5 * em), sCapHeight=asc,
                fsSelection=0x40 if style.lower() == "regular" else 0, usWeightClass=_weight(style))
    fb.setupPost()
    from fontTools.misc.timeTools import timestampNow

    now = timestampNow()  # honours SOURCE_DATE_EPOCH, for reproducible builds
    fb.setupHead(unitsPerEm=em, fontRevision=float(version), created=now, modified=now)
    report.chars = list(drawn)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        fb.save(str(tmp))
    return report


def _char(name: str) -> str:
    return chr(int(name[3:] if name.startswith("uni") else name[1:], 16))


def _weight(style: str) -> int:
    table = {"thin": 100, "extralight": 200, "light": 300, "regular": 400, "medium": 500, "semibold": 600,
             "bold": 700, "extrabold": 800, "black": 900}
    return table.get(style.lower().replace(" ", "").replace("-", ""), 400)


class _Reverse:
    """A pen adaptor that draws line-only contours in the reverse direction."""

    def __init__(self, pen) -> None:
        self.pen, self.points = pen, []

    def moveTo(self, p) -> None:
        self.points = [p]

    def lineTo(self, p) -> None:
        self.points.append(p)

    def closePath(self) -> None:
        pts = self.points[::-1]
        self.pen.moveTo(pts[0])
        for p in pts[1:]:
            self.pen.lineTo(p)
        self.pen.closePath()
