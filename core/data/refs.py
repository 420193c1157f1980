"""Real-life handwriting (phone photos, scans, sheets) turned into clean glyph references.

This is what ``glyph run dsfgan --refs ./mywriter`` reads: a folder with one image per character,
each named after its character (``永.png``, ``U+6C38.png``, ``永_2.jpg`` for a second sample), or one
photographed sheet with a grid of characters plus the text written on it (:func:`slice_sheet`).

Every image becomes a ``size x size`` uint8 array in the toolkit's ink convention (255 = ink,
0 = paper; see :mod:`glyph.data`). :func:`normalize_glyph` does, in order:

1. composite alpha over paper and take the luminance (ITU-R BT.601, as Pillow's ``convert("L")``);
2. decide the polarity (``ink="auto"``: the paper is the majority of the picture);
3. level the background: a coarse grey-scale closing (max then min filter) removes the strokes and
   leaves the paper under its lighting, blurred and divided out, so shadows, gradients and tinted
   paper all become a flat paper level (the classic "background normalisation" of document images);
4. threshold the levelled ink strength (Otsu, never below the paper noise) and label connected
   components, dropping specks, dark page edges along the border and marks far from the glyph;
5. stretch the contrast between the paper noise and the typical stroke, crop to the ink, pad to a
   square with ``margin`` of paper and resize with an anti-aliasing filter.

Analysis runs on a downscaled copy and only the glyph's crop is touched at full resolution, so a
12-megapixel photo takes a fraction of a second. Only numpy and Pillow are used.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import GlyphError, did_you_mean
from ..imageio import ImageReadError, list_images, read_image, write_image
from ..paths import check_output_dir, inside, safe_name

MARGIN = 0.08  # paper on each side of a normalised reference, as a fraction of its box

__all__ = [
    "NAMING_HINT",
    "BlankImageError",
    "RefSet",
    "char_from_filename",
    "load_references",
    "normalize_glyph",
    "parse_grid",
    "slice_sheet",
    "write_refset",
]

NAMING_HINT = "name each file after its character, e.g. 永.png, U+6C38.png or 永_2.jpg"
INK_CHOICES = ("auto", "dark", "light")
KINDS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}

# ITU-R BT.601 luma, the weights Pillow's convert("L") uses, so a file and its greyscale copy agree.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Long side of the analysis copy. A single glyph needs little; a sheet holds many small characters.
_GLYPH_ANALYSIS = 800
_SHEET_ANALYSIS = 1600
# The crop is resampled to at most this many times the output size before the final resize: plenty for
# anti-aliasing, and it bounds the work when the glyph fills a 12-megapixel photo.
_WORK_OVERSAMPLE = 6

# Sample suffixes for several images of one character: 永_2, 永-2, 永 2, 永 (2), 永(2).
_SAMPLE_SUFFIX = re.compile(r"^(?P<base>.+?)(?:[ _-]+\d+|\s*\(\d+\))$")
_CODEPOINT = re.compile(r"^[Uu]\+?(?P<hex>[0-9A-Fa-f]{4,6})$")
# No name of one character is longer (file systems stop at 255 bytes), and _SAMPLE_SUFFIX takes time quadratic in
# the length of a name made of separators.
_MAX_STEM = 255
# Ideographs (unified with all extensions, compatibility, radicals, 々〆〇), kana and Hangul syllables.
_CJK_RANGES = (
    (0x2E80, 0x2FDF),  # CJK radicals supplement, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x31F0, 0x31FF),  # katakana phonetic extensions
    (0x3400, 0x4DBF),  # extension A
    (0x4E00, 0x9FFF),  # unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x3FFFF),  # planes 2 and 3: extensions B-J and the compatibility supplement
)


class BlankImageError(GlyphError):
    """No ink could be told apart from the paper (a blank or nearly uniform photo)."""


@dataclass
class RefSet:
    """Normalised reference glyphs of one writer.

    :param images: uint8 ``[K, size, size]``, 255 = ink, 0 = paper.
    :param chars: the character of each image (several samples of one character repeat it).
    :param files: where each image came from: a file path, or ``"<sheet>#r<row>c<col>"`` for a sheet cell.
    :param skipped: ``(path, reason)`` for every input that was not used, the reason one line.
    """

    images: np.ndarray
    chars: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.chars)


# ---------------------------------------------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------------------------------------------


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _single_char(text: str) -> str | None:
    if len(text) != 1:
        # macOS stores names decomposed (NFD); recompose so an accented letter counts as one character.
        # Only as a fallback: NFC would turn compatibility ideographs (U+F900...) into unified ones.
        text = unicodedata.normalize("NFC", text)
    return text if len(text) == 1 else None


def char_from_filename(stem: str, allow_any: bool = False) -> str | None:
    """The character a reference file is named after, or None when the name is not one.

    Accepted: the character itself (``永``), its code point (``U+6C38``, ``u6c38``), either followed by a
    sample number (``永_2``, ``永-2``, ``永 (2)``, ``U+6C38_2``). By default only CJK characters count
    (ideographs incl. extensions and compatibility ideographs, radicals, kana, Hangul), so camera names
    such as ``IMG_1234`` and Latin letters or digits are rejected; ``allow_any=True`` accepts any single
    printable, non-space character.

    :param stem: the file name without its suffix.
    """
    name = stem.strip()
    if len(name) > _MAX_STEM:
        return None
    m = _SAMPLE_SUFFIX.match(name)
    if m:
        name = m.group("base").strip()
    ch = _single_char(name)
    if ch is None:
        cp = _CODEPOINT.match(name)
        if not cp:
            return None
        value = int(cp.group("hex"), 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            return None
        ch = chr(value)
    if allow_any:
        # Category C* = control, format, surrogate, private use, unassigned: nothing a person writes.
        return None if ch.isspace() or unicodedata.category(ch).startswith("C") else ch
    return ch if _is_cjk(ch) else None


# ---------------------------------------------------------------------------------------------------------------
# Small image operations (scipy.ndimage filters and labelling; Pillow resizing; Otsu's threshold)
# ---------------------------------------------------------------------------------------------------------------


def _resize(a: np.ndarray, size: tuple[int, int], resample: Image.Resampling,
            box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Resize a float32 [H, W] array to ``size`` = (width, height) with Pillow's "F" mode (C speed)."""
    im = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))
    return np.asarray(im.resize(size, resample, box=box), dtype=np.float32)


def _max_filter(a: np.ndarray, k: int) -> np.ndarray:
    """Max over a centred ``k x k`` window, edges repeated."""
    from scipy.ndimage import maximum_filter

    return maximum_filter(a, size=k, mode="nearest")


def _min_filter(a: np.ndarray, k: int) -> np.ndarray:
    """Min over a centred ``k x k`` window, edges repeated."""
    from scipy.ndimage import minimum_filter

    return minimum_filter(a, size=k, mode="nearest")


def _box_blur(a: np.ndarray, r: int, extrapolate: bool = False) -> np.ndarray:
    """Mean over a (2r+1)^2 window; past the edges the picture is repeated, or continued linearly (odd reflection)
    with ``extrapolate``, which suits smooth pictures only (mirrored ink would spike)."""
    from scipy.ndimage import uniform_filter

    if r < 1:
        return a
    k = 2 * r + 1
    if extrapolate and min(a.shape) > r:
        p = np.pad(a.astype(np.float64), r, mode="reflect", reflect_type="odd")  # scipy has no odd reflection
        return uniform_filter(p, size=k, mode="nearest")[r:-r, r:-r].astype(np.float32)
    return uniform_filter(a.astype(np.float64), size=k, mode="nearest").astype(np.float32)


def _unbias_border(closed: np.ndarray, r: int) -> np.ndarray:
    """Correct a closing of radius ``r`` within ``r`` of the border, where it cannot follow falling light.

    Near an edge the closing sees only the inside of the picture: where the light falls off towards the edge it
    keeps the brighter inside level, and the paper there would look like ink. Continue the level linearly from
    the interior instead (the slope between r and 2r from the edge) and keep the lower of the two estimates.
    """
    out = closed.copy()
    for axis in (0, 1):
        n = out.shape[axis]
        if n < 2 * r + 1 or r < 1:
            continue
        a = np.moveaxis(out, axis, 0)  # a view: edits land in ``out``
        steps = (r - np.arange(r, dtype=np.float32))[:, None] / r  # 1 at the edge, 1/r next to the interior
        for edge, inner, far in ((slice(0, r), r, 2 * r), (slice(n - 1, n - r - 1, -1), n - 1 - r, n - 1 - 2 * r)):
            ext = a[inner] + (a[inner] - a[far]) * steps
            a[edge] = np.minimum(a[edge], ext)
    return out


def _block_reduce(a: np.ndarray, step: int, reduce: str) -> np.ndarray:
    """Max (or mean) over ``step x step`` blocks; the last partial blocks repeat the edge."""
    if step == 1:
        return a
    h, w = a.shape
    ph, pw = -h % step, -w % step
    p = np.pad(a, ((0, ph), (0, pw)), mode="edge").reshape((h + ph) // step, step, (w + pw) // step, step)
    return p.max(axis=(1, 3)) if reduce == "max" else p.mean(axis=(1, 3))


def _otsu(values: np.ndarray, lo: float, hi: float, bins: int = 256) -> float:
    """Otsu's threshold (1979): the split of the histogram that maximises the between-class variance."""
    hist, edges = np.histogram(values, bins=bins, range=(lo, hi))
    p = hist.astype(np.float64)
    total = p.sum()
    if total == 0:
        return (lo + hi) / 2
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    w1 = total - w0
    m0 = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (m0[-1] * w0 - m0 * total) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1
    return float(edges[int(np.argmax(between)) + 1])


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of True in a 1-D array, end exclusive."""
    d = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


@dataclass
class _Components:
    labels: np.ndarray  # int32 [h, w]: 0 = background, i + 1 = component i
    area: np.ndarray
    y0: np.ndarray
    x0: np.ndarray
    y1: np.ndarray  # exclusive
    x1: np.ndarray  # exclusive
    cy: np.ndarray
    cx: np.ndarray
    stroke: float  # typical stroke width in pixels

    @property
    def n(self) -> int:
        return len(self.area)


def _components(binary: np.ndarray) -> _Components:
    """8-connected components (scipy.ndimage.label), numbered in raster order of their first pixel."""
    from scipy.ndimage import label

    h, w = binary.shape
    binary = np.asarray(binary, dtype=bool)
    labels, n = label(binary, structure=np.ones((3, 3), dtype=bool))
    labels = labels.astype(np.int32, copy=False)
    empty = np.zeros(0, dtype=np.int64)
    if n == 0:
        return _Components(labels, empty, empty, empty, empty, empty, empty.astype(float), empty.astype(float), 1.0)
    ys, xs = np.nonzero(binary)
    comp = labels[ys, xs] - 1
    area = np.bincount(comp, minlength=n).astype(np.int64)
    y0 = np.full(n, h, np.int64)
    x0 = np.full(n, w, np.int64)
    y1 = np.zeros(n, np.int64)
    x1 = np.zeros(n, np.int64)
    np.minimum.at(y0, comp, ys)
    np.minimum.at(x0, comp, xs)
    np.maximum.at(y1, comp, ys + 1)
    np.maximum.at(x1, comp, xs + 1)
    cy = np.bincount(comp, weights=ys + 0.5, minlength=n) / area
    cx = np.bincount(comp, weights=xs + 0.5, minlength=n) / area
    # Stroke width ~ 2 * area / perimeter (a long stroke of width s has area L*s and perimeter ~2L);
    # the perimeter is counted as horizontal runs (2 ends each) plus vertical ink/paper transitions.
    runs = np.count_nonzero(binary[:, 0]) + np.count_nonzero(binary[:, 1:] & ~binary[:, :-1])
    vertical = np.count_nonzero(binary[1:] != binary[:-1]) + np.count_nonzero(binary[0]) + np.count_nonzero(binary[-1])
    stroke = max(1.0, 2.0 * float(area.sum()) / (2 * runs + vertical))
    return _Components(labels, area, y0, x0, y1, x1, cy, cx, stroke)


# ---------------------------------------------------------------------------------------------------------------
# Page analysis: polarity, background levelling, threshold
# ---------------------------------------------------------------------------------------------------------------


def _check_ink(ink: str) -> None:
    if ink not in INK_CHOICES:
        raise GlyphError(f"unknown ink polarity {ink!r}{did_you_mean(str(ink), INK_CHOICES)}; "
                         f"use one of {', '.join(INK_CHOICES)}")


def _finite(a: np.ndarray) -> np.ndarray:
    # One cheap pass (a sum propagates NaN and inf) instead of cleaning every value of every photo.
    return a if np.isfinite(a.sum(dtype=np.float64)) else np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)


def _luminance(pixels: np.ndarray, kind: str, ink: str) -> np.ndarray:
    """Float32 [H, W] luminance in [0, 1], alpha composited over a paper that contrasts with the ink."""
    if kind not in KINDS:
        raise GlyphError(f"unknown image kind {kind!r}{did_you_mean(str(kind), KINDS)}; use one of {', '.join(KINDS)}")
    a = np.asarray(pixels)
    if a.dtype.kind in "ui":  # tolerate raw 8/16-bit arrays as well as read_image's floats
        a = a.astype(np.float32) / (255.0 if a.dtype.itemsize == 1 else 65535.0)
    else:
        a = a.astype(np.float32, copy=False)
    if kind == "L" and a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    expected = 2 if kind == "L" else 3
    if a.ndim != expected or (a.ndim == 3 and a.shape[2] != KINDS[kind]):
        raise GlyphError(f"pixels of shape {a.shape} do not match kind {kind!r}; pass what read_image returns")
    if kind == "L":
        return _finite(a)
    colour = _finite(a[:, :, 0] if kind == "LA" else a[:, :, :3] @ _LUMA)
    if kind == "RGB":
        return colour
    alpha = np.clip(_finite(a[:, :, -1]), 0.0, 1.0)
    if alpha.min() >= 0.999:
        return colour
    weight = float(alpha.sum())
    if weight < 1.0:
        raise BlankImageError("no ink found: the image is fully transparent")
    # Strokes drawn on a transparent background: the opaque pixels are the ink, so the paper must contrast
    # with them (white under dark strokes, black under light ones), whatever colour hides under alpha = 0.
    if ink == "auto":
        paper = 1.0 if float((colour * alpha).sum()) / weight < 0.5 else 0.0
    else:
        paper = 1.0 if ink == "dark" else 0.0
    return (paper + alpha * (colour - paper)).astype(np.float32)


@dataclass
class _Page:
    gray: np.ndarray  # full-resolution luminance
    dark_ink: bool  # else the page is inverted before levelling
    sy: float  # full-resolution pixels per analysis pixel, vertically
    sx: float
    bg_small: np.ndarray  # paper level on the coarse grid, in "paper bright" orientation
    bg_step: int  # analysis pixels per coarse-grid pixel
    d: np.ndarray  # analysis-resolution ink strength: 0 = paper level, 1 = black relative to the paper
    lo: float  # stretch: ink strength mapped to 0 (just above the paper noise)
    hi: float  # stretch: ink strength mapped to 1 (a typical stroke)
    t: float  # threshold between paper and ink

    @property
    def binary(self) -> np.ndarray:
        return self.d > self.t


def _dark_ink(ga: np.ndarray) -> bool:
    """True when the paper is lighter than the ink: the paper is the majority of the picture.

    Three tests, the first that is sure decides. (1) Split the grey levels in two (Otsu): when that gives two
    well separated populations, as ink and paper under even light do, the larger one is the paper. (2) Uneven
    light smears the paper over many grey levels, so compare each pixel with its local background instead (a
    coarse block median): the paper sits near it and the ink forms a tail far out on one side. (3) With no ink
    to see (a blank page) the paper is whichever side of mid-grey the picture's median lies on.
    """
    t = _otsu(ga, 0.0, 1.0)
    bright, dark = ga[ga > t], ga[ga <= t]
    if bright.size and dark.size:
        gap = float(bright.mean() - dark.mean())
        spread = float(bright.std() + dark.std())
        minority = min(bright.size, dark.size) / ga.size
        # A lighting gradient alone splits with gap/spread ~ 1.7 (a uniform spread of grey levels).
        if gap > 3.0 * spread and gap > 0.1 and minority < 0.45:
            return bool(bright.size > dark.size)
    h, w = ga.shape
    # Blocks of a twelfth of the picture: big enough that strokes stay a minority in most of them.
    step = max(1, math.ceil(max(h, w) / 12))
    ph, pw = -h % step, -w % step
    blocks = np.pad(ga, ((0, ph), (0, pw)), mode="edge").reshape((h + ph) // step, step, (w + pw) // step, step)
    local = np.median(blocks.transpose(0, 2, 1, 3).reshape(blocks.shape[0], blocks.shape[2], -1), axis=-1)
    local = _resize(local.astype(np.float32), (w, h), Image.Resampling.BILINEAR, box=(0, 0, w / step, h / step))
    resid = ga - local
    med = float(np.median(resid))
    tau = max(6 * 1.4826 * float(np.median(np.abs(resid - med))), 0.04)
    below = np.count_nonzero(resid < med - tau)
    above = np.count_nonzero(resid > med + tau)
    if max(below, above) > 2e-4 * resid.size and (below > 1.5 * above or above > 1.5 * below):
        return bool(below > above)
    return bool(np.median(ga) >= 0.5)


def _analyse(gray: np.ndarray, ink: str, long_side: int) -> _Page:
    h, w = gray.shape
    if min(h, w) < 8:
        raise GlyphError(f"the image is {w}x{h} pixels, too small to hold a glyph; use a bigger photo or scan")
    scale = max(1.0, max(h, w) / long_side)
    aw, ah = max(8, round(w / scale)), max(8, round(h / scale))
    ga = _resize(gray, (aw, ah), Image.Resampling.BOX) if scale > 1 else gray.astype(np.float32, copy=True)
    dark = _dark_ink(ga) if ink == "auto" else ink == "dark"
    v = ga if dark else 1.0 - ga  # "paper bright": ink is always the darker side from here on

    # Paper level: the block max (strokes thinner than a block vanish) on a ~100-pixel grid, then a grey-scale
    # closing with a window of a quarter of the picture removes every stroke narrower than that, and a blur
    # smooths the result. Dividing by it flattens lighting gradients, shadows and tinted paper.
    step = max(1, math.ceil(max(ah, aw) / 100))
    vs = _block_reduce(v, step, "max")
    k = max(3, round(0.25 * min(vs.shape)) | 1)
    closed = _unbias_border(_min_filter(_max_filter(vs, k), k), k // 2)
    bg_small = np.maximum(_box_blur(closed, k // 4, extrapolate=True), 0.02)
    bg = _resize(bg_small, (aw, ah), Image.Resampling.BILINEAR, box=(0, 0, aw / step, ah / step))
    d = np.clip(1.0 - v / bg, 0.0, 1.0)

    # Paper noise from the median absolute deviation (the paper is the majority, so the median is paper);
    # the threshold never goes below it, so noise and paper texture do not become ink.
    med = float(np.median(d))
    sigma = max(1.4826 * float(np.median(np.abs(d - med))), 0.004)
    t = max(_otsu(d, 0.0, 1.0), med + 4 * sigma, med + 0.08)
    inked = d[d > t]
    hi = float(np.percentile(inked, 70)) if inked.size else t
    hi = max(hi, t + 0.02)
    lo = min(med + 2.5 * sigma, (med + t) / 2)
    if hi - med < 0.15:
        raise BlankImageError("no ink found: nothing on the image is clearly darker (or lighter) than the paper; "
                              "photograph the character with more contrast, or remove the file")
    return _Page(gray, dark, h / ah, w / aw, bg_small, step, d, lo, hi, t)


def _drop_artefacts(page: _Page, comps: _Components) -> np.ndarray:
    """Components that may be ink: not specks, and not a dark page edge or shadow along the border."""
    h, w = page.d.shape
    # A speck is smaller than a fraction of a stroke-width square; real dots (丶) are at least one square.
    keep = comps.area >= max(3.0, 0.4 * comps.stroke**2)
    # Page edges and shadows lie almost entirely in a thin frame along the border.
    fy, fx = max(2, round(0.06 * h)), max(2, round(0.06 * w))
    frame = np.zeros((h, w), dtype=bool)
    frame[:fy], frame[-fy:], frame[:, :fx], frame[:, -fx:] = True, True, True, True
    in_frame = np.bincount(comps.labels[frame], minlength=comps.n + 1)[1:]
    edge = keep & (in_frame >= 0.9 * comps.area)
    rest = keep & ~edge
    touches = (comps.y0 == 0) | (comps.x0 == 0) | (comps.y1 == h) | (comps.x1 == w)
    # ...but a tightly cropped glyph also reaches the border: only drop the frame marks when the rest of the
    # ink keeps clear of the border, i.e. the picture has paper all around the glyph.
    if edge.any() and rest.any() and not (rest & touches).any():
        keep = rest
    return keep


def _select_glyph(page: _Page) -> tuple[_Components, np.ndarray]:
    """The components that make up the one glyph of a reference photo, as a boolean mask over components."""
    comps = _components(page.binary)
    keep = _drop_artefacts(page, comps)
    h, w = page.d.shape
    idx = np.flatnonzero(keep)
    if idx.size == 0 or comps.area[idx].max() < max(12.0, (0.012 * min(h, w)) ** 2):
        raise BlankImageError("no ink found: only specks and page edges; photograph the character larger "
                              "and with more contrast, or remove the file")
    idx = idx[np.argsort(-comps.area[idx], kind="stable")]
    total = float(comps.area[idx].sum())
    chosen = np.zeros(comps.n, dtype=bool)
    chosen[idx[0]] = True
    by0, bx0, by1, bx1 = comps.y0[idx[0]], comps.x0[idx[0]], comps.y1[idx[0]], comps.x1[idx[0]]
    # Grow the glyph from its largest piece: the parts of a character are close to each other; a mark far
    # away (dust, a smudge, a printed logo) is not part of it. Small pieces must be closer than big ones.
    reach = np.where(comps.area[idx] >= 0.02 * total, 0.6, 0.15)
    while True:
        size = max(by1 - by0, bx1 - bx0)
        gx = np.maximum(0, np.maximum(comps.x0[idx] - bx1, bx0 - comps.x1[idx]))
        gy = np.maximum(0, np.maximum(comps.y0[idx] - by1, by0 - comps.y1[idx]))
        near = idx[(np.hypot(gx, gy) <= reach * size) & ~chosen[idx]]
        if near.size == 0:
            return comps, chosen
        chosen[near] = True  # the box grows, so look again for pieces that are now within reach
        by0, bx0 = min(by0, comps.y0[near].min()), min(bx0, comps.x0[near].min())
        by1, bx1 = max(by1, comps.y1[near].max()), max(bx1, comps.x1[near].max())


# ---------------------------------------------------------------------------------------------------------------
# Rendering one glyph: crop at full resolution, stretch, pad to a square, resize
# ---------------------------------------------------------------------------------------------------------------


def _mask_box(mask: np.ndarray, pad: int = 3) -> tuple[int, int, int, int] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return max(0, rows[0] - pad), max(0, cols[0] - pad), min(h, rows[-1] + 1 + pad), min(w, cols[-1] + 1 + pad)


def _render(page: _Page, mask: np.ndarray, y0: int, x0: int, size: int, margin: float) -> np.ndarray:
    """One glyph as uint8 [size, size]; ``mask`` marks its ink on the analysis grid, offset (y0, x0)."""
    mh, mw = mask.shape
    # Grow the mask by two analysis pixels: the anti-aliased rims of strokes lie below the threshold but belong
    # to the glyph; everything else in the crop is paper by decision, which is what makes the paper exactly 0.
    # (Padded by 3 so the dilation has room and Pillow's resampling box below never starts at a negative offset.)
    grown = _max_filter(np.pad(mask, 3).astype(np.uint8), 5)
    gy, gx = y0 - 3, x0 - 3
    fh, fw = page.gray.shape
    fy0, fx0 = math.floor(y0 * page.sy), math.floor(x0 * page.sx)
    fy1, fx1 = min(fh, math.ceil((y0 + mh) * page.sy)), min(fw, math.ceil((x0 + mw) * page.sx))
    crop = page.gray[fy0:fy1, fx0:fx1]
    ch, cw = crop.shape
    f = max(1.0, max(ch, cw) / (_WORK_OVERSAMPLE * size))
    ww, wh = max(1, round(cw / f)), max(1, round(ch / f))
    work = _resize(crop, (ww, wh), Image.Resampling.BOX) if f > 1 else crop.astype(np.float32, copy=True)
    v = work if page.dark_ink else 1.0 - work
    s = page.bg_step
    bg = _resize(page.bg_small, (ww, wh), Image.Resampling.BILINEAR,
                 box=(fx0 / page.sx / s, fy0 / page.sy / s, fx1 / page.sx / s, fy1 / page.sy / s))
    keep = Image.fromarray(grown * 255).resize(
        (ww, wh), Image.Resampling.NEAREST, box=(fx0 / page.sx - gx, fy0 / page.sy - gy,
                                                 fx1 / page.sx - gx, fy1 / page.sy - gy))
    d = np.clip(1.0 - v / bg, 0.0, 1.0)
    ink = np.clip((d - page.lo) / (page.hi - page.lo), 0.0, 1.0) * (np.asarray(keep) > 0)

    # The bounding box of the ink as the threshold saw it, mapped through the stretch.
    level = min(0.5, max(0.2, (page.t - page.lo) / (page.hi - page.lo)))
    box = _mask_box(ink >= level, pad=0)
    if box is None:
        raise BlankImageError("no ink found: the marks are too faint; photograph the character with more contrast")
    by0, bx0, by1, bx1 = box
    side = max(by1 - by0, bx1 - bx0) / (1.0 - 2.0 * margin)
    cy, cx = (by0 + by1) / 2, (bx0 + bx1) / 2
    # Pad with paper so the square may reach past the crop, then let Pillow resample the exact float box:
    # the glyph lands centred without rounding the padding to whole pixels.
    p = math.ceil(side / 2) + 2
    canvas = np.pad(ink, p)
    # Bicubic (Keys, a = -0.5), widened by the scale factor, anti-aliases like Lanczos but has one negative lobe
    # only: its ringing is an undershoot beside the stroke, clipped to 0, where Lanczos' second, positive lobe
    # would leave a faint grey halo in the paper two pixels out.
    out = _resize(canvas, (size, size), Image.Resampling.BICUBIC,
                  box=(cx - side / 2 + p, cy - side / 2 + p, cx + side / 2 + p, cy + side / 2 + p))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _check_output(size: int, margin: float) -> None:
    if not isinstance(size, int) or size < 8:
        raise GlyphError(f"glyph size must be an integer of at least 8 pixels, got {size!r}")
    if not 0.0 <= margin < 0.5:
        raise GlyphError(f"margin is a fraction of the glyph box in [0, 0.5), got {margin!r}; {MARGIN} is a good "
                         f"default")


def normalize_glyph(pixels: np.ndarray, kind: str, size: int = 64, margin: float = MARGIN,
                    ink: str = "auto") -> np.ndarray:
    """Turn one photo or scan of a handwritten character into a clean glyph.

    :param pixels: what :func:`glyph.imageio.read_image` returns: floats in [0, 1], H x W or H x W x C.
    :param kind: ``"L"``, ``"LA"``, ``"RGB"`` or ``"RGBA"``.
    :param size: side of the output in pixels.
    :param margin: paper on each side of the glyph, as a fraction of ``size``.
    :param ink: ``"dark"`` (ink darker than the paper), ``"light"`` or ``"auto"`` (the paper is the majority).
    :returns: uint8 ``[size, size]``, 255 = ink, 0 = paper, the glyph centred with its long side filling
        the box inside the margins.
    :raises BlankImageError: when no ink can be told apart from the paper.
    :raises GlyphError: for a bad ``kind``, ``ink``, ``size`` or ``margin``, or an image too small to use.
    """
    _check_ink(ink)
    _check_output(size, margin)
    page = _analyse(_luminance(pixels, kind, ink), ink, _GLYPH_ANALYSIS)
    comps, chosen = _select_glyph(page)
    box = _mask_box(np.isin(comps.labels, np.flatnonzero(chosen) + 1))
    assert box is not None  # _select_glyph chose at least one component
    y0, x0, y1, x1 = box
    mask = np.isin(comps.labels[y0:y1, x0:x1], np.flatnonzero(chosen) + 1)
    return _render(page, mask, y0, x0, size, margin)


# ---------------------------------------------------------------------------------------------------------------
# A folder of references
# ---------------------------------------------------------------------------------------------------------------


def _reason(err: GlyphError, path: Path) -> str:
    """The message of an error without the leading ``path: `` that read_image puts there."""
    msg = str(err)
    prefix = f"{path}: "
    return msg[len(prefix):] if msg.startswith(prefix) else msg


def load_references(folder: str | Path, size: int = 64, ink: str = "auto", allow_any: bool = False,
                    require_names: bool = True) -> RefSet:
    """Read every image in ``folder`` (not its subfolders), each named after its character, as references.

    Files that cannot be used are listed in ``skipped`` with a one-line reason (unreadable, empty, badly
    named, blank, symlink out of the folder) and the others are used; nothing raises for a single bad file.

    :param folder: one writer's folder: ``永.png``, ``U+6C38.png``, ``永_2.jpg`` ...
    :param size: side of the normalised glyphs.
    :param ink: polarity of the photos, see :func:`normalize_glyph`.
    :param allow_any: accept any single character as a name, not only CJK ones.
    :param require_names: skip files not named after a character; with False they are used with an unknown
        character ``""`` (style references need no names).
    :returns: a :class:`RefSet` with images uint8 ``[K, size, size]`` (255 = ink), in file-name order.
    :raises GlyphError: when the folder is missing, is a file, or holds no usable image.
    """
    _check_ink(ink)
    _check_output(size, MARGIN)
    root = Path(folder)
    if not root.exists():
        raise GlyphError(f"reference folder {root} does not exist; make a folder with one photo or scan per "
                         f"character and {NAMING_HINT}")
    if not root.is_dir():
        raise GlyphError(f"{root} is a file, not a folder; put the reference images in a folder and {NAMING_HINT}")
    try:
        paths, skipped = list_images(root, recursive=False)
    except OSError as e:
        raise GlyphError(f"cannot read reference folder {root} ({e.strerror or e}); check its permissions") from None
    skipped = list(skipped)
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        skipped.append((str(sub), "subfolder ignored; put the reference images directly in the folder"))
    images: list[np.ndarray] = []
    chars: list[str] = []
    files: list[str] = []
    for path in paths:
        ch = char_from_filename(path.stem, allow_any=allow_any)
        if ch is None and not require_names:
            ch = ""
        if ch is None:
            only = "" if allow_any else " (only CJK characters are accepted)"
            skipped.append((str(path), f"file name {path.stem!r} is not a character{only}; {NAMING_HINT}"))
            continue
        try:
            pixels, kind = read_image(path)
            images.append(normalize_glyph(pixels, kind, size=size, ink=ink))
        except ImageReadError as e:
            skipped.append((str(path), _reason(e, path)))
            continue
        except GlyphError as e:  # blank photo, image too small
            skipped.append((str(path), str(e)))
            continue
        chars.append(ch)
        files.append(str(path))
    if not images:
        seen = len(paths)
        why = f"; first problem: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise GlyphError(f"no usable reference image in {root} (found {seen} image file{'s' * (seen != 1)}){why}; "
                         f"{NAMING_HINT}")
    return RefSet(np.stack(images), chars, files, skipped)


# ---------------------------------------------------------------------------------------------------------------
# A sheet: one photo, many characters in a grid
# ---------------------------------------------------------------------------------------------------------------


Cells = list[tuple[int, int]]
Options = dict[int, tuple[float, Cells]]


def _row_options(segs: list[tuple[int, int]], width: float, pitch: float | None) -> Options:
    """Ways to read one row of ink segments as characters: count -> (cost, [(x0, x1) per character]).

    A character is one segment, several neighbouring segments (好 = 女 + 子 leaves paper between its halves)
    at most 1.4 ``width`` wide together, or an equal share of one segment of at least 0.6 ``width`` (characters
    that touch). On a sheet the characters sit on a regular ``pitch``: neighbours whose centres are closer
    than 0.55 pitch cannot both be characters, which is what rules out reading the halves of 八 as two.
    The cost adds the squared log deviation of each width from ``width``, the squared relative deviation of
    each spacing from ``pitch`` and a price per split.
    """
    m = len(segs)

    def spacing(delta: float) -> float:
        if pitch is None:
            return 0.0
        r = delta / pitch
        return math.inf if r < 0.55 else 4.0 * (r - 1.0) ** 2

    # Candidate groups (first segment, end segment, pieces); every piece is one character.
    groups: list[tuple[int, int, list[tuple[int, int]], float]] = []
    for i in range(m):
        for j in range(i + 1, m + 1):
            x0, x1 = segs[i][0], segs[j - 1][1]
            span = max(1, x1 - x0)
            if j - i > 1 and span > 1.4 * width:
                break  # only wider for a larger j
            for k in range(1, (int(span / (0.6 * width)) if j - i == 1 else 1) + 1):
                cells = [(round(x0 + span * q / k), round(x0 + span * (q + 1) / k)) for q in range(k)]
                cost = k * math.log(span / k / width) ** 2
                if k > 1:  # a price per split, and the pieces must be spaced like characters
                    cost += (k - 1) * (0.6 + spacing(span / k))
                if math.isfinite(cost):
                    groups.append((i, j, cells, cost))
    ending: dict[int, list[int]] = {}
    for g, (_, j, _, _) in enumerate(groups):
        ending.setdefault(j, []).append(g)
    # best[g]: count -> (cost, cells) for readings of the row up to and including group g as its last.
    best: list[Options] = [{} for _ in groups]
    for g, (i, _, cells, cost) in enumerate(groups):  # groups are ordered by their first segment
        centre = (cells[0][0] + cells[0][1]) / 2
        if i == 0:
            best[g][len(cells)] = (cost, cells)
        for p in ending.get(i, []):
            prev = best[p]
            if not prev:
                continue
            for n, (c0, cells0) in prev.items():
                c = c0 + cost + spacing(centre - (cells0[-1][0] + cells0[-1][1]) / 2)
                if math.isfinite(c) and (n + len(cells) not in best[g] or c < best[g][n + len(cells)][0]):
                    best[g][n + len(cells)] = (c, cells0 + cells)
    out: Options = {}
    for g in ending.get(m, []):
        for n, v in best[g].items():
            if n not in out or v[0] < out[n][0]:
                out[n] = v
    return out


def _fit_rows(options: list[Options], n: int) -> list[int] | None:
    """Characters per row so that the rows add up to ``n`` at the least total cost, or None when impossible."""
    table: dict[int, tuple[float, list[int]]] = {0: (0.0, [])}
    for opts in options:
        nxt: dict[int, tuple[float, list[int]]] = {}
        for total, (cost, counts) in table.items():
            for k, (c, _) in opts.items():
                if total + k <= n and (total + k not in nxt or cost + c < nxt[total + k][0]):
                    nxt[total + k] = (cost + c, [*counts, k])
        table = nxt
    return table[n][1] if n in table else None


class _Rows:
    """Rows of a sheet (bands of ink between horizontal paper gaps) and the ink segments in each."""

    def __init__(self, clean: np.ndarray, bands: list[tuple[int, int]]) -> None:
        self.bands = bands
        self.segs = [_runs(clean[b0:b1].any(axis=0)) for b0, b1 in bands]
        # CJK characters are about as wide as they are tall, and a row is as tall as its characters.
        self.width = max(1.0, float(np.median([b1 - b0 for b0, b1 in bands])))

    def fit(self, n: int) -> tuple[list[Options], list[int]] | None:
        rows = len(self.bands)
        # The pitch that ``n`` characters imply: each row spans (count - 1) pitches plus one character.
        extent = sum(s[-1][1] - s[0][0] for s in self.segs if s)
        pitch = max(1.0, (extent - rows * self.width) / (n - rows)) if n > rows else None
        options = [_row_options(s, self.width, pitch) for s in self.segs]
        counts = _fit_rows(options, n)
        return None if counts is None else (options, counts)


def _detect_cells(clean: np.ndarray, n: int) -> list[tuple[int, int, int, int]]:
    """Character boxes (y0, x0, y1, x1) in reading order from the ink projections, exactly ``n`` of them."""
    bands = _runs(clean.any(axis=1))
    # A row whose characters all share a horizontal gap (a row of 三) splits into flat bands: merge a band
    # much flatter than the others into its nearer neighbour, as long as the text still fits.
    while len(bands) > 1:
        heights = np.array([b1 - b0 for b0, b1 in bands], dtype=float)
        rows = _Rows(clean, bands)
        # Characters are square-ish, so the segments' widths say how tall a row should be even when most bands
        # are flat pieces.
        ref = max(float(np.median(heights)), float(np.median([s1 - s0 for s in rows.segs for s0, s1 in s])))
        i = int(np.argmin(heights))
        if heights[i] >= 0.45 * ref:
            break
        gap_up = bands[i][0] - bands[i - 1][1] if i > 0 else math.inf
        gap_down = bands[i + 1][0] - bands[i][1] if i + 1 < len(bands) else math.inf
        j = i - 1 if gap_up <= gap_down else i + 1
        merged = [*bands]
        merged[min(i, j)] = (bands[min(i, j)][0], bands[max(i, j)][1])
        del merged[max(i, j)]
        if _Rows(clean, merged).fit(n) is None and rows.fit(n) is not None:
            break
        bands = merged
    # Rows written so close that no paper line separates them: split a band much taller than the others.
    if len(bands) >= 2:
        ref = float(np.median([b1 - b0 for b0, b1 in bands]))
        split: list[tuple[int, int]] = []
        for b0, b1 in bands:
            k = round((b1 - b0) / ref) if (b1 - b0) > 1.6 * ref else 1
            split += [(round(b0 + (b1 - b0) * q / k), round(b0 + (b1 - b0) * (q + 1) / k)) for q in range(k)]
        bands = split

    rows = _Rows(clean, bands)
    fitted = rows.fit(n)
    if fitted is None:
        # Say how many characters the sheet does hold, when a nearby count fits.
        near = next((m for d in range(1, max(6, n // 2)) for m in (n - d, n + d) if m >= 1 and rows.fit(m)), None)
        found = f"the sheet seems to hold {near} characters" if near else f"could not find {n} characters"
        raise GlyphError(f"{found} in {len(bands)} rows but the text has {n}; check the text (whitespace is "
                         f"ignored), or give the grid (ROWSxCOLS, e.g. 3x4) to cut the sheet into equal cells")
    options, counts = fitted
    cells = []
    for (b0, b1), opts, k in zip(bands, options, counts, strict=True):
        cells += [(b0, x0, b1, x1) for x0, x1 in opts[k][1]]
    return cells


_GRID = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")


def parse_grid(spec: str) -> tuple[int, int]:
    """``"4x5"`` -> ``(4, 5)``: the ``--grid ROWSxCOLS`` of a sheet (``X`` and ``×`` work too).

    :raises GlyphError: for anything else, a zero, or more rows or columns than a sheet can hold.
    """
    m = _GRID.fullmatch(spec)
    # ASCII digits only: \d also matches other scripts' digits, which a user would not type by intent.
    if not m or not (m.group(1).isascii() and m.group(2).isascii()):
        raise GlyphError(f"grid {spec[:40]!r}: expected ROWSxCOLS such as 4x5")
    if any(len(g.lstrip("0")) > 4 for g in m.groups()):  # int() refuses over 4,300 digits; no sheet has 10,000 rows
        raise GlyphError(f"grid {spec[:40]!r}: more rows or columns than a sheet holds; count them, e.g. 4x5")
    rows, cols = int(m.group(1)), int(m.group(2))
    if rows < 1 or cols < 1:
        raise GlyphError(f"grid {spec[:40]!r} has no cells; give ROWSxCOLS as counted on the sheet, e.g. 4x5")
    return rows, cols


def slice_sheet(pixels: np.ndarray, kind: str, text: str, grid: tuple[int, int] | None = None, size: int = 64,
                ink: str = "auto", margin: float = MARGIN, source: str = "sheet") -> RefSet:
    """Cut one photo of a grid of handwritten characters into normalised glyphs.

    :param pixels: the sheet as :func:`glyph.imageio.read_image` returns it.
    :param kind: ``"L"``, ``"LA"``, ``"RGB"`` or ``"RGBA"``.
    :param text: the characters on the sheet in reading order (rows top to bottom, each left to right);
        whitespace is ignored, so the text may keep one line per row.
    :param grid: ``(rows, cols)`` to cut the ink area into equal cells (only the last row may hold fewer
        characters, so one row spans the ink's width); None finds rows and columns from the
        gaps of paper between them, using the length of ``text`` to join the halves of split characters.
    :param size: side of each output glyph.
    :param ink: polarity, see :func:`normalize_glyph`.
    :param margin: paper around each glyph, see :func:`normalize_glyph`.
    :param source: the name used in ``files`` and ``skipped`` (``"<source>#r<row>c<col>"``).
    :returns: a :class:`RefSet`; a cell with no ink is reported in ``skipped`` instead.
    :raises GlyphError: when the text is empty, the grid does not fit the text, or the detected characters
        cannot be matched with the text.
    """
    _check_ink(ink)
    _check_output(size, margin)
    chars = [c for c in text if not c.isspace()]
    n = len(chars)
    if n == 0:
        raise GlyphError("the text of the sheet is empty; give the characters written on it in reading order")
    if grid is not None:
        rows, cols = (int(g) for g in grid)
        grid = (rows, cols)
        shape = f"{rows}x{cols}" if max(abs(rows), abs(cols)) < 10**9 else "of that size"  # str() stops at 4,300 digits
        if rows < 1 or cols < 1:
            raise GlyphError(f"grid {shape} has no cells; give ROWSxCOLS as counted on the sheet, e.g. 3x4")
        # Only the last row may be short; and one row must be full, as the cells divide the ink's width.
        if rows > n or cols > n or not (rows - 1) * cols < n <= rows * cols or (rows == 1 and cols != n):
            cells = f"{rows * cols} cells" if shape != "of that size" else "more cells"
            raise GlyphError(f"grid {shape} has {cells} but the text has {n} characters; check the grid "
                             f"(ROWSxCOLS) and the text")
    try:
        first: RefSet | GlyphError = _cut_sheet(pixels, kind, chars, grid, size, ink, margin, source)
    except GlyphError as e:
        first = e
    if ink != "auto" or (isinstance(first, RefSet) and first.images.shape[0]):
        if isinstance(first, GlyphError):
            raise first
        return first
    # "auto" guesses the paper from the grey levels, and a page of grey photo tiles with white gutters between them
    # fools the guess: the gutters look like light ink on grey paper. Before giving up, both readings are tried
    # and the first that fits the text is kept; else the auto reading's error (or empty result) stands.
    for polarity in ("dark", "light"):
        try:
            other = _cut_sheet(pixels, kind, chars, grid, size, polarity, margin, source)
        except GlyphError:
            continue
        if other.images.shape[0]:
            return other
    if isinstance(first, GlyphError):
        raise first
    return first


GRID_LINE_INK = 0.5  # a cell line of a --grid may cross at most this share of the sheet's mean ink density


def _check_grid_fits(ink: np.ndarray, rows: int, cols: int) -> None:
    """Refuse a grid whose cell lines run through the writing rather than the paper between characters (a wrong
    ROWSxCOLS would cut strokes apart and name every cell after the wrong character)."""
    for axis, n, what in ((0, rows, "row"), (1, cols, "column")):
        profile = ink.sum(axis=1 - axis).astype(np.float64)  # ink per line across the axis
        mean = max(float(profile.mean()), 1e-9)
        cell = len(profile) / n
        band = max(1, int(cell * 0.04))
        for k in range(1, n):
            at = round(k * cell)
            if profile[max(0, at - band):at + band + 1].mean() > GRID_LINE_INK * mean:
                raise GlyphError(f"the writing does not fit a {rows}x{cols} grid: {what} line {k} of it runs through "
                                 f"strokes, not the paper between characters; count the rows and columns on the "
                                 f"sheet again (ROWSxCOLS), or leave out --grid")


def _cut_sheet(pixels: np.ndarray, kind: str, chars: list[str], grid: tuple[int, int] | None, size: int, ink: str,
               margin: float, source: str) -> RefSet:
    """:func:`slice_sheet` with one reading of the ink (``auto`` decided once), after its checks."""
    n = len(chars)
    rows, cols = grid if grid is not None else (0, 0)
    page = _analyse(_luminance(pixels, kind, ink), ink, _SHEET_ANALYSIS)
    comps = _components(page.binary)
    keep = _drop_artefacts(page, comps)
    ids = np.flatnonzero(keep) + 1
    clean = np.isin(comps.labels, ids)
    box = _mask_box(clean, pad=0)
    if box is None:
        raise BlankImageError("no ink found on the sheet; photograph it with more contrast")

    # Each cell: (row, col, mask, y0, x0) with the mask on the analysis grid at offset (y0, x0).
    cells: list[tuple[int, int, np.ndarray | None, int, int]] = []
    if grid is not None:
        # Equal cells over the ink area; each component goes to the cell holding its centre, so a stroke that
        # crosses a cell line stays whole.
        y0, x0, y1, x1 = box
        _check_grid_fits(clean[y0:y1, x0:x1], rows, cols)
        ch, cw = (y1 - y0) / rows, (x1 - x0) / cols
        kept = ids - 1
        r = np.clip(((comps.cy[kept] - y0) // ch).astype(int), 0, rows - 1)
        c = np.clip(((comps.cx[kept] - x0) // cw).astype(int), 0, cols - 1)
        h, w = clean.shape
        for i in range(n):
            members = kept[(r * cols + c) == i]
            if members.size == 0:
                cells.append((i // cols + 1, i % cols + 1, None, 0, 0))
                continue
            my0, mx0 = max(0, int(comps.y0[members].min()) - 3), max(0, int(comps.x0[members].min()) - 3)
            my1, mx1 = min(h, int(comps.y1[members].max()) + 3), min(w, int(comps.x1[members].max()) + 3)
            sub = np.isin(comps.labels[my0:my1, mx0:mx1], members + 1)
            cells.append((i // cols + 1, i % cols + 1, sub, my0, mx0))
    else:
        h, w = clean.shape
        boxes = _detect_cells(clean, n)
        row_of = {b0: i + 1 for i, b0 in enumerate(sorted({b[0] for b in boxes}))}
        col = 0
        last_row = None
        for y0, x0, y1, x1 in boxes:
            col = col + 1 if row_of[y0] == last_row else 1
            last_row = row_of[y0]
            # Only the ink inside this character's box, with room around it for the rims of the strokes.
            py0, px0, py1, px1 = max(0, y0 - 3), max(0, x0 - 3), min(h, y1 + 3), min(w, x1 + 3)
            sub = np.zeros((py1 - py0, px1 - px0), dtype=bool)
            sub[y0 - py0:y1 - py0, x0 - px0:x1 - px0] = clean[y0:y1, x0:x1]
            cells.append((row_of[y0], col, sub, py0, px0))

    images, names, files, skipped = [], [], [], []
    for (row, col, sub, y0, x0), ch_ in zip(cells, chars, strict=True):
        where = f"{source}#r{row}c{col}"
        try:
            if sub is None or not sub.any():
                raise BlankImageError("no ink found in this cell")
            images.append(_render(page, sub, y0, x0, size, margin))
        except BlankImageError as e:
            skipped.append((where, f"{ch_!r}: {e}"))
            continue
        names.append(ch_)
        files.append(where)
    stack = np.stack(images) if images else np.zeros((0, size, size), dtype=np.uint8)
    return RefSet(stack, names, files, skipped)


def write_refset(refs: RefSet, out_dir: str | Path) -> int:
    """Write ``refs`` into the new folder ``out_dir`` as ``<char>.png`` (``<char>_2.png`` for further samples of a
    character), dark ink on white, and return how many files were written.

    :raises GlyphError: when ``out_dir`` is a file, is not empty or cannot be written.
    """
    out = check_output_dir(out_dir)
    counts: dict[str, int] = {}
    for img, ch in zip(refs.images, refs.chars, strict=True):
        counts[ch] = counts.get(ch, 0) + 1
        # The character comes from the user's text or file names: '/' or '.' must not leave the folder.
        name = safe_name(ch) if counts[ch] == 1 else f"{safe_name(ch)}_{counts[ch]}"
        write_image(inside(out, f"{name}.png"), 1.0 - img.astype(np.float32) / 255.0)
    return len(refs.chars)
