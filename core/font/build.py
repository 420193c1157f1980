"""Build an installable OpenType font (CFF ``.otf`` or TrueType ``.ttf``) from glyph bitmaps with fontTools.

Each bitmap is the character's em square (glyph's 64 px images are drawn with the em box spanning the
canvas), traced to cubic outlines (:mod:`glyph.font.trace`) on every core, mapped to font units with the
ideographic em box from the descender (-1/8 of the em) to the ascender (7/8; Source Han Sans uses 0.12/0.88,
but 1/8 puts the baseline on a pixel at 64 px, so the font renders back onto its source bitmaps), and given a
full-width advance. ``.otf`` keeps the cubic curves in a CFF table (outer contours counter-clockwise);
``.ttf`` converts them to quadratic curves (cu2qu, within 1 unit) in a glyf table (outer contours clockwise).
Punctuation in the writer's weight, vertical forms and the Latin fallback come from :mod:`glyph.font.extras`.
The font has a .notdef box, spaces (U+0020, U+3000), a Unicode cmap, name, OS/2 (ranges from the characters,
weight class from the measured stroke weight), hhea/hmtx, vhea/vmtx (and VORG for CFF), GSUB ``vert`` and post.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GlyphError
from ..threads import cpu_budget
from .trace import Contour, orient, trace, trace_many

ASCENT, DESCENT = 0.875, 0.125  # of the em: 7/8 above the baseline, so 64 px (and 8k px) baselines fall on a pixel


@dataclass
class FontReport:
    """What a build made: the file, the characters in it, and characters left out with the reason."""

    path: Path
    chars: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # punctuation drawn from the template in the writer's weight
    latin: list[str] = field(default_factory=list)  # ASCII from the bundled fallback
    weight: float = 0.0  # the measured stroke weight, fraction of the em


def glyph_name(ch: str) -> str:
    """The AGL-style production name: uniXXXX in the BMP, uXXXXX beyond it."""
    cp = ord(ch)
    return f"uni{cp:04X}" if cp <= 0xFFFF else f"u{cp:05X}"


def ps_name(family: str, style: str) -> str:
    """A PostScript name: printable ASCII without spaces or brackets, at most 63 characters.

    A family named in another script (我的手写, 我的 Font) keeps its ASCII part (or ``Glyph``) and gets a short hash
    of its whole name, so two such fonts installed side by side do not share one PostScript name.
    """
    keep = re.compile(r"[^A-Za-z0-9\-]")
    fam, sty = keep.sub("", family.replace(" ", "")), keep.sub("", style.replace(" ", "")) or "Regular"
    if not family.isascii() or not fam.strip("-"):
        import hashlib

        fam = (fam.strip("-") or "Glyph")[:40] + hashlib.sha1(family.encode("utf-8")).hexdigest()[:8]
    return f"{fam}-{sty}"[:63]


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


PARALLEL_MIN = 64  # fewer glyphs than this trace faster in this process than a pool starts


def _trace_items(items: list[tuple[str, np.ndarray, float, int]], em: int, quadratic: bool) -> list[tuple]:
    """Trace and draw glyphs (in a worker): (name, bitmap, level, advance) -> (name, outline, bounds or None).

    The outline is a compiled Type 2 charstring (bytes) for CFF, a TrueType glyph for glyf: drawn here, so the
    parent process only collects them.
    """
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.t2CharStringPen import T2CharStringPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    out = []
    traced = trace_many([it[1] for it in items], [it[2] for it in items])
    for (name, bitmap, _, advance), found in zip(items, traced, strict=True):
        contours = orient(found, outer_positive=False)  # y down: flips with the axis
        units = _to_units(contours, bitmap.shape[0], em)
        bounds = BoundsPen(None)
        _draw(bounds, units, quadratic)
        if quadratic:
            pen = TTGlyphPen(None)
            _draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True), units, True)
            outline = pen.glyph()
        else:
            cs_pen = T2CharStringPen(advance, None)
            _draw(cs_pen, units, False)
            charstring = cs_pen.getCharString()
            charstring.compile()
            outline = bytes(charstring.bytecode)
        out.append((name, outline, bounds.bounds))
    return out


def _trace_all(items: list[tuple[str, np.ndarray, float, int]], em: int, quadratic: bool, workers: int,
               progress: Callable[[int, int], None] | None, counted: int) -> list[tuple]:
    """:func:`_trace_items` over all cores (forked workers, chunks of 64); ``progress`` counts the first
    ``counted`` items (the caller's glyphs, not the punctuation added to them)."""
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    def report(done: int) -> None:
        if progress is not None:
            progress(min(done, counted), counted)

    if len(items) < PARALLEL_MIN or workers <= 1:
        out = []
        for i in range(0, len(items), 16):
            report(i)
            out += _trace_items(items[i:i + 16], em, quadratic)
        report(len(items))
        return out
    chunks = [items[i:i + 64] for i in range(0, len(items), 64)]
    results: list[list[tuple]] = [[] for _ in chunks]
    done = 0
    report(0)
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_trace_items, chunk, em, quadratic): k for k, chunk in enumerate(chunks)}
        for f in as_completed(futures):
            k = futures[f]
            results[k] = f.result()
            done += len(chunks[k])
            report(done)
    return [r for chunk in results for r in chunk]


def build_font(glyphs: dict[str, np.ndarray], out: str | Path, family: str, style: str = "Regular", em: int = 1000,
               version: str = "1.000", progress: Callable[[int, int], None] | None = None, cjk_only: bool = False,
               workers: int | None = None) -> FontReport:
    """Write a font of ``glyphs`` (character -> square bitmap, floats in [0, 1] with 1 = ink) to ``out``.

    The format follows the suffix: ``.otf`` (CFF, cubic) or ``.ttf`` (glyf, quadratic). The file is written
    atomically. Characters whose bitmap has no ink are skipped and reported. Unless ``cjk_only``, full-width
    punctuation the glyphs lack is added in the writer's measured stroke weight, with vertical forms, and ASCII
    letters, digits and punctuation from the bundled Latin fallback (:mod:`glyph.font.extras`).
    ``progress(done, total)`` counts the glyphs as they are traced, on ``workers`` processes (default: every
    core).
    """

    from fontTools.fontBuilder import FontBuilder
    from fontTools.misc.psCharStrings import T2CharString

    from ..imageio import atomic_output
    from . import extras

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
    bitmaps: dict[str, np.ndarray] = {}
    for ch, bitmap in sorted(glyphs.items()):
        a = np.asarray(bitmap, np.float32)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            report.skipped.append((ch, f"bitmap is {a.shape}, not a square grey image"))
            continue
        bitmaps[ch] = a
    report.weight = extras.stroke_weight(list(bitmaps.values())[:: max(1, len(bitmaps) // 500)])
    items = [(glyph_name(ch), a, 0.5, em) for ch, a in bitmaps.items()]
    counted = len(items)
    added: dict[str, np.ndarray] = {}
    if not cjk_only:
        for ch, (a, level) in extras.punctuation(report.weight, set(bitmaps)).items():
            items.append((glyph_name(ch), a, level, em))
            added[ch] = a
    vert: dict[str, str] = {}
    for name, a, level, _ in list(items):
        ch = _char(name)
        form = extras.vertical_form(ch, a) if not cjk_only or ch in bitmaps else None
        if form is not None:
            vert[name] = f"{name}.vert"
            items.append((vert[name], form, level, em))
    traced = _trace_all(items, em, quadratic, workers or cpu_budget(), progress, counted)
    if progress is not None:
        progress(counted, counted)
    outlines_by_name = {}
    for name, outline, bounds in traced:
        if bounds is None:
            if not name.endswith(".vert") and _char(name) in bitmaps:
                report.skipped.append((_char(name), "no ink to trace"))
            vert.pop(name, None)
            continue
        outlines_by_name[name] = (outline, bounds)
    vert = {h: v for h, v in vert.items() if h in outlines_by_name and v in outlines_by_name}
    drawn = [ch for ch in bitmaps if glyph_name(ch) in outlines_by_name]
    if not drawn:
        raise GlyphError("none of the glyphs has ink to trace; nothing to put in a font")
    report.added = [ch for ch in added if glyph_name(ch) in outlines_by_name]
    asc, desc = round(ASCENT * em), round(DESCENT * em)
    widths = {".notdef": em, "space": em // 2, "uni3000": em}
    cmap = {0x20: "space", 0x3000: "uni3000"}
    order = [".notdef", "space", "uni3000"]
    for ch in [*drawn, *report.added]:
        order.append(glyph_name(ch))
        cmap[ord(ch)] = glyph_name(ch)
    order += sorted(vert.values())
    latin: dict[str, tuple] = {}
    if not cjk_only:
        latin_path = extras.latin_font(report.weight)
        latin, space = _latin_outlines(latin_path, em, quadratic, {ord(c) for c in bitmaps})
        widths["space"] = space
        for name, (_, width, _, cp) in latin.items():
            order.append(name)
            cmap[cp] = name
            widths[name] = width
            report.latin.append(chr(cp))
    fb = FontBuilder(em, isTTF=quadratic)
    fb.setupGlyphOrder(order)
    fb.setupCharacterMap(cmap)
    bounds_of: dict[str, tuple | None] = {".notdef": (em // 10, -desc + em // 10, em - em // 10, asc - em // 10),
                                          "space": None, "uni3000": None}
    for name, (_, b) in outlines_by_name.items():
        bounds_of[name] = b
    for name, (_, _, b, _) in latin.items():
        bounds_of[name] = b
    if quadratic:
        from fontTools.pens.ttGlyphPen import TTGlyphPen

        glyf = {}
        for name in order:
            if name in outlines_by_name:
                glyf[name] = outlines_by_name[name][0]
            elif name in latin:
                glyf[name] = latin[name][0]
            else:
                pen = TTGlyphPen(None)
                if name == ".notdef":
                    _notdef(pen, em, asc, desc)
                glyf[name] = pen.glyph()
        fb.setupGlyf(glyf)
    else:
        from fontTools.pens.t2CharStringPen import T2CharStringPen

        charstrings = {}
        for name in order:
            if name in outlines_by_name:
                charstrings[name] = T2CharString(bytecode=outlines_by_name[name][0])
            elif name in latin:
                charstrings[name] = latin[name][0]
            else:
                pen = T2CharStringPen(widths.get(name, em), None)
                if name == ".notdef":
                    _notdef(_Reverse(pen), em, asc, desc)  # drawn clockwise (TrueType); PostScript runs the other way
                charstrings[name] = pen.getCharString()
        # CFF's own strings are Latin-1; a family named in Chinese keeps its name in the name table (UTF-16),
        # which is what systems show, and the CFF table gets the ASCII PostScript name.
        full = f"{family} {style}"
        fb.setupCFF(ps_name(family, style), {"FullName": full if full.isascii() else ps_name(family, style)},
                    charstrings, {})
    boxes = [b for b in bounds_of.values() if b]
    y_max = max(asc, *(round(b[3]) for b in boxes))
    y_min = min(-desc, *(round(b[1]) for b in boxes))
    fb.setupHorizontalMetrics({n: (widths.get(n, em), round(bounds_of[n][0]) if bounds_of.get(n) else 0)
                               for n in order})
    fb.setupHorizontalHeader(ascent=asc, descent=-desc, lineGap=0)
    # Vertical writing: every glyph advances a full em downwards from its vertical origin, the top of the
    # ideographic em box (ASCENT); vhea spans the em box around the centre line.
    fb.setupVerticalMetrics({n: (em, asc - round(bounds_of[n][3]) if bounds_of.get(n) else 0) for n in order})
    fb.setupVerticalHeader(ascent=em // 2, descent=-(em - em // 2), lineGap=0)
    if not quadratic:
        fb.setupVerticalOrigins({}, asc)
    if vert:
        rules = " ".join(f"sub {h} by {v};" for h, v in sorted(vert.items()))
        fb.addOpenTypeFeatures(f"languagesystem DFLT dflt; languagesystem hani dflt;\n"
                               f"feature vert {{ {rules} }} vert;\nfeature vrt2 {{ {rules} }} vrt2;\n")
    unique = f"{version};GLYPH;{ps_name(family, style)}"
    names = {"familyName": family, "styleName": style, "uniqueFontIdentifier": unique,
             "fullName": f"{family} {style}", "psName": ps_name(family, style), "version": f"Version {version}",
             "description": "Made with glyph (glyph font build) from generated glyph images."}
    if latin:
        names["licenseDescription"] = extras.LATIN_LICENCE
        names["licenseInfoURL"] = extras.LATIN_LICENCE_URL
    fb.setupNameTable(names)
    fb.setupOS2(version=4, sTypoAscender=asc, sTypoDescender=-desc, sTypoLineGap=0, usWinAscent=y_max,
                usWinDescent=-y_min, fsType=0, achVendID="GLYF", sxHeight=round(0.5 * em), sCapHeight=asc,
                fsSelection=(0x40 if style.lower() == "regular" else 0) | 0x80,  # REGULAR, USE_TYPO_METRICS
                usWeightClass=extras.weight_class(report.weight) if report.weight else _weight(style))
    os2 = fb.font["OS/2"]
    os2.recalcUnicodeRanges(fb.font)
    os2.recalcCodePageRanges(fb.font)
    if any(0x4E00 <= ord(ch) <= 0x9FFF for ch in drawn):
        os2.ulCodePageRange1 |= 1 << 18  # GB2312: fontTools' probes do not pick it for a hand of 3,755 hanzi
    os2.recalcAvgCharWidth(fb.font)
    fb.setupPost(keepGlyphNames=quadratic)  # CFF keeps its names in the CFF table: post format 3
    from fontTools.misc.timeTools import timestampNow

    now = timestampNow()  # honours SOURCE_DATE_EPOCH, for reproducible builds
    fb.setupHead(unitsPerEm=em, fontRevision=float(version), created=now, modified=now)
    if not quadratic:
        _set_extents(fb.font, bounds_of, widths, em, asc)
    report.chars = drawn
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        fb.save(str(tmp))
    return report


def _set_extents(font, bounds_of: dict[str, tuple | None], widths: dict[str, int], em: int, asc: int) -> None:
    """Font-wide extents (head, hhea, vhea, CFF FontBBox) from the bounds the workers measured.

    fontTools would otherwise find them on save by running every charstring three times (head and CFF, hhea,
    vhea): 20 of the 25 s of a 3,755-glyph CFF build.
    """
    font.recalcBBoxes = False
    boxes = {n: b for n, b in bounds_of.items() if b}
    x0, y0 = min(b[0] for b in boxes.values()), min(b[1] for b in boxes.values())
    x1, y1 = max(b[2] for b in boxes.values()), max(b[3] for b in boxes.values())
    head = font["head"]
    head.xMin, head.yMin, head.xMax, head.yMax = (round(v) for v in (x0, y0, x1, y1))
    font["CFF "].cff.topDictIndex[0].FontBBox = [head.xMin, head.yMin, head.xMax, head.yMax]
    hhea, vhea = font["hhea"], font["vhea"]
    hhea.advanceWidthMax = max(widths.get(n, em) for n in font.getGlyphOrder())
    hhea.minLeftSideBearing = min(round(b[0]) for b in boxes.values())
    hhea.minRightSideBearing = min(widths.get(n, em) - round(b[2]) for n, b in boxes.items())
    hhea.xMaxExtent = max(round(b[2]) for b in boxes.values())
    vhea.advanceHeightMax = em
    vhea.minTopSideBearing = min(asc - round(b[3]) for b in boxes.values())
    vhea.minBottomSideBearing = min(em - (asc - round(b[1])) for b in boxes.values())
    vhea.yMaxExtent = max(asc - round(b[1]) for b in boxes.values())


def _notdef(pen, em: int, asc: int, desc: int) -> None:
    """The .notdef glyph: a hollow box, so a missing character shows as a visible tofu, not as nothing."""
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


def _latin_outlines(path: Path, em: int, quadratic: bool, skip: set[int]) -> tuple[dict[str, tuple], int]:
    """The fallback font's printable ASCII scaled to ``em``: name -> (outline, advance, bounds, code point), and
    the width of its space. Characters in ``skip`` (the writer's own) are left out."""
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.pens.recordingPen import DecomposingRecordingPen
    from fontTools.pens.t2CharStringPen import T2CharStringPen
    from fontTools.pens.transformPen import TransformPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTFont

    src = TTFont(str(path))
    k = em / src["head"].unitsPerEm
    glyph_set = src.getGlyphSet()
    hmtx = src["hmtx"]
    out: dict[str, tuple] = {}
    cmap = src.getBestCmap()
    for cp in range(0x21, 0x7F):
        if cp not in cmap or cp in skip:
            continue
        rec = DecomposingRecordingPen(glyph_set)
        glyph_set[cmap[cp]].draw(rec)
        advance = round(hmtx[cmap[cp]][0] * k)
        bounds = BoundsPen(None)
        rec.replay(TransformPen(bounds, (k, 0, 0, k, 0, 0)))
        if quadratic:
            pen = TTGlyphPen(None)
            rec.replay(TransformPen(pen, (k, 0, 0, k, 0, 0)))
            outline = pen.glyph()
        else:
            pen = T2CharStringPen(advance, None)
            rec.replay(TransformPen(pen, (k, 0, 0, k, 0, 0)))
            outline = pen.getCharString()
        out[glyph_name(chr(cp))] = (outline, advance, bounds.bounds, cp)
    return out, round(hmtx[cmap[0x20]][0] * k) if 0x20 in cmap else em // 2


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
