"""What a font needs beyond the writer's hanzi: stroke weight, punctuation in the writer's pen, vertical forms
and a bundled Latin/digit fallback.

* **Stroke weight** is measured as ``2 * ink area / outline length`` of the 64 px bitmaps (the mean stroke
  width of thin shapes), as a fraction of the canvas. Noto Sans CJK SC, the template font, measures 0.060
  (Regular, weight 400) and 0.094 (Bold, 700) on box-fitted hanzi; the OS/2 weight class interpolates those.
* **Punctuation** is the template font's full-width punctuation (:data:`glyph.data.templates.PUNCTUATION`, drawn
  where the font puts it in the em), thickened or thinned to the writer's measured weight before tracing:
  the bitmap is blurred and traced at the level that moves a straight edge by the wanted offset.
* **Vertical forms** (OpenType ``vert``): brackets, dashes and the ellipsis turn a quarter clockwise; ，。、
  move from the bottom left of the em to the top right, as in vertical Chinese.
* **Latin and digits** come from DejaVu Sans (the Bitstream Vera licence; DejaVu's changes are in the public
  domain), subset to ASCII and renamed "Glyph Fallback Latin" (the licence requires a modified font to drop the
  names "Bitstream" and "Vera"), in three weights: ExtraLight, Book and Bold; the one nearest the writer's
  weight class is used. ``python -m glyph.font.extras`` rebuilds them from the Debian package fonts-dejavu-core.
  The licence travels with them (``assets/fonts/LICENSE-DejaVu.txt``) and is named in every font that includes
  them.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import GlyphError

# Stroke weights (2 * area / perimeter / canvas) of 64 px box-fitted hanzi, measured once with stroke_weight()
# on 25 common characters: Noto Sans CJK SC Regular and Bold set the weight-class scale.
NOTO_REGULAR, NOTO_BOLD = 0.0604, 0.0944
# The bundled Latin weights: name -> (DejaVu Sans file, its OS/2 weight class); the writer's weight class picks one.
LATIN = {"light": ("DejaVuSans-ExtraLight.ttf", 200), "regular": ("DejaVuSans.ttf", 400),
         "bold": ("DejaVuSans-Bold.ttf", 700)}
LATIN_SOURCE = "DejaVu Sans"
LATIN_LICENCE = ("Latin letters, digits and ASCII punctuation from DejaVu Sans, renamed Glyph Fallback Latin: "
                 "Copyright (c) 2003 by Bitstream, Inc. (Bitstream Vera licence); DejaVu changes are in the public "
                 "domain")
LATIN_LICENCE_URL = "https://dejavu-fonts.github.io/License.html"
VERT_ROTATE = "「」『』（）《》〈〉【】—…～"  # turned a quarter clockwise in vertical text
VERT_SHIFT = "，。、"  # moved to the top right of the em in vertical text


def stroke_weight(bitmaps: list[np.ndarray]) -> float:
    """The median stroke width of ink bitmaps (floats, 1 = ink) as a fraction of the canvas; 0 with no ink."""
    widths = []
    for b in bitmaps:
        ink = np.asarray(b) > 0.5
        area = int(ink.sum())
        if area == 0:
            continue
        edge = (int((ink[:, 1:] != ink[:, :-1]).sum()) + int((ink[1:] != ink[:-1]).sum())
                + int(ink[:, 0].sum() + ink[:, -1].sum() + ink[0].sum() + ink[-1].sum()))
        widths.append(2 * area / max(edge, 1) / ink.shape[0])
    return float(np.median(widths)) if widths else 0.0


def weight_class(weight: float) -> int:
    """The OS/2 usWeightClass (100-900, in hundreds) for a stroke weight, on Noto Sans CJK's scale."""
    cls = 400 + (weight - NOTO_REGULAR) * 300 / (NOTO_BOLD - NOTO_REGULAR)
    return int(min(900, max(100, round(cls / 100) * 100)))


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (numpy only; scipy is not a dependency)."""
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(a, r)
    p = np.apply_along_axis(np.convolve, 1, p, k, mode="same")
    p = np.apply_along_axis(np.convolve, 0, p, k, mode="same")
    return p[r:-r, r:-r]


def reweigh(bitmap: np.ndarray, offset: float) -> tuple[np.ndarray, float]:
    """A grey bitmap and the trace level that moves its edges outwards by ``offset`` pixels (negative: inwards,
    at most half a pixel).

    Blurring with sigma s makes a straight edge an error-function ramp; its ``Phi(-offset / s)`` level lies
    ``offset`` outside the original edge (anti-aliasing adds about 0.3 px of blur, counted in s).
    """
    offset = float(np.clip(offset, -0.5, 1.5))  # thinning more would erase 。's thin ring and ·'s dot
    if abs(offset) < 0.1:
        return bitmap, 0.5
    sigma = 1.0
    eff = math.hypot(sigma, 0.3)
    blurred = _blur(np.asarray(bitmap, np.float64), sigma)
    area = max(1, int((np.asarray(bitmap) >= 0.5).sum()))
    while True:
        level = 0.5 * math.erfc(offset / (eff * math.sqrt(2)))
        # Thinning must not break hairlines (the double strokes of 『』): back off until 60% of the ink stays.
        if offset >= 0 or (blurred >= level).sum() >= 0.6 * area or offset > -0.1:
            return (blurred, level) if abs(offset) >= 0.1 else (bitmap, 0.5)
        offset /= 2


def punctuation(weight: float, have: set[str]) -> dict[str, tuple[np.ndarray, float]]:
    """Template punctuation the writer's glyphs lack, reweighed to ``weight``: char -> (bitmap, trace level)."""
    from ..data.templates import EM, PUNCTUATION, template_glyphs

    wanted = [c for c in PUNCTUATION if c not in have]
    found = template_glyphs(wanted, fit=EM).glyphs
    offset = (weight - NOTO_REGULAR) / 2 * 64 if weight > 0 else 0.0  # per side, in 64 px pixels
    return {c: reweigh(g.astype(np.float32) / 255, offset * g.shape[0] / 64) for c, g in found.items()}


def vertical_form(ch: str, bitmap: np.ndarray) -> np.ndarray | None:
    """The vertical-writing form of punctuation ``ch`` drawn from its horizontal bitmap, or None if it stays."""
    if ch in VERT_ROTATE:
        return np.rot90(bitmap, -1).copy()
    if ch in VERT_SHIFT:
        ys, xs = np.nonzero(np.asarray(bitmap) > 0.05)
        if not len(xs):
            return None
        h, w = bitmap.shape
        dx, dy = w - 1 - xs.max() - xs.min(), h - 1 - ys.max() - ys.min()  # bottom-left margins become top-right
        return np.roll(np.roll(bitmap, int(dy), 0), int(dx), 1)
    return None


def fonts_dir() -> Path:
    """Where the bundled fallback fonts live inside the package."""
    return Path(str(resources.files("glyph") / "assets" / "fonts"))


def latin_font(weight: float) -> Path:
    """The bundled Latin fallback nearest in weight class to a writer of stroke weight ``weight``.

    :raises GlyphError: when the package lacks the bundled fonts (a broken install).
    """
    wanted = weight_class(weight) if weight > 0 else 400
    name = min(LATIN, key=lambda k: abs(LATIN[k][1] - wanted))
    path = fonts_dir() / f"latin-{name}.ttf"
    if not path.is_file():
        raise GlyphError(f"the bundled Latin font {path} is missing; reinstall glyph, or build with --cjk-only")
    return path


def build_latin_assets(source: Path = Path("/usr/share/fonts/truetype/dejavu"), out: Path | None = None) -> Path:
    """Subset DejaVu Sans ExtraLight/Book/Bold to ASCII and rename them (as its licence asks of a modified font);
    returns the folder."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    out = out or fonts_dir()
    out.mkdir(parents=True, exist_ok=True)
    for name, (file, _) in LATIN.items():
        src = source / file
        if not src.is_file():
            raise GlyphError(f"{src} is not installed; install the Debian package fonts-dejavu-core")
        font = TTFont(src)
        options = subset.Options()
        options.layout_features = []
        options.hinting = False
        options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "vhea", "vmtx", "gasp"]
        sub = subset.Subsetter(options)
        sub.populate(unicodes=range(0x20, 0x7F))
        sub.subset(font)
        table = font["name"]
        family = "Glyph Fallback Latin"
        for rec in table.names:
            if rec.nameID in (1, 16):
                rec.string = family
            elif rec.nameID in (3, 4):
                rec.string = f"{family} {name.title()}"
            elif rec.nameID == 6:
                rec.string = f"GlyphFallbackLatin-{name.title()}"
        font["head"].modified = font["head"].created
        font.save(out / f"latin-{name}.ttf")
    return out


if __name__ == "__main__":
    print(build_latin_assets())
