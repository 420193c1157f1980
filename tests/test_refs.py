"""Real-life references: photos and scans of handwriting become clean, centred glyphs, whatever the photo.

The inputs are synthetic "photographs" drawn here: a 永-like figure of strokes on tinted paper, under uneven
light, inverted, off-centre, rotated through EXIF, with alpha, as palette and 16-bit files, plus a sheet
with a 3 x 4 grid of characters. The same figure under every condition must come out (nearly) the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from glyph.data.refs import (
    BlankImageError,
    RefSet,
    _components,
    char_from_filename,
    load_references,
    normalize_glyph,
    slice_sheet,
)
from glyph.errors import GlyphError
from glyph.imageio import read_image

SIZE, MARGIN = 64, 0.08
UKAI = Path("/usr/share/fonts/truetype/arphic/ukai.ttc")

# Character-like figures in unit coordinates: (polyline, stroke width). The first is asymmetric (a 永-like
# figure), so a rotation or a mirror shows; the others give the sheet its variety, including characters
# whose parts leave paper between them (left/right, top/bottom, 八 and 小).
YONG = [
    ([(0.46, 0.06), (0.54, 0.16)], 0.07),
    ([(0.22, 0.30), (0.56, 0.30), (0.56, 0.92), (0.46, 0.84)], 0.06),
    ([(0.44, 0.44), (0.14, 0.74)], 0.06),
    ([(0.62, 0.48), (0.84, 0.36)], 0.05),
    ([(0.62, 0.52), (0.90, 0.90)], 0.07),
]
SHAPES = [
    YONG,
    [([(0.1, 0.35), (0.9, 0.35)], 0.07), ([(0.1, 0.7), (0.9, 0.7)], 0.07)],  # 二
    [([(0.1, 0.2), (0.4, 0.2), (0.4, 0.85)], 0.06), ([(0.6, 0.15), (0.6, 0.9)], 0.06),
     ([(0.6, 0.5), (0.9, 0.5)], 0.06)],  # left and right halves
    [([(0.5, 0.1), (0.5, 0.9)], 0.08), ([(0.15, 0.5), (0.85, 0.5)], 0.07)],  # 十
    [([(0.15, 0.15), (0.85, 0.15), (0.85, 0.85), (0.15, 0.85), (0.15, 0.15)], 0.06)],  # 口
    [([(0.1, 0.1), (0.35, 0.9)], 0.06), ([(0.65, 0.1), (0.9, 0.9)], 0.06)],  # 八
    [([(0.5, 0.05), (0.5, 0.95)], 0.07), ([(0.2, 0.3), (0.35, 0.6)], 0.06), ([(0.8, 0.3), (0.65, 0.6)], 0.06)],
    [([(0.2, 0.1), (0.8, 0.1)], 0.06), ([(0.2, 0.5), (0.8, 0.5)], 0.06), ([(0.15, 0.9), (0.85, 0.9)], 0.06)],
    [([(0.1, 0.5), (0.9, 0.5)], 0.08)],  # 一
    [([(0.2, 0.1), (0.2, 0.9), (0.8, 0.9)], 0.06), ([(0.55, 0.2), (0.8, 0.45)], 0.06)],
    [([(0.15, 0.2), (0.45, 0.2)], 0.05), ([(0.3, 0.05), (0.3, 0.9)], 0.05),
     ([(0.55, 0.1), (0.9, 0.1), (0.9, 0.9), (0.55, 0.9)], 0.05)],
    [([(0.1, 0.9), (0.5, 0.1), (0.9, 0.9)], 0.07), ([(0.3, 0.6), (0.7, 0.6)], 0.06)],
]
SHEET_TEXT = "永二仆十\n口八小三\n一乚叶人"


def coverage(side: int, strokes=YONG) -> np.ndarray:
    """Ink coverage in [0, 1] of a figure drawn ``side`` pixels wide, anti-aliased by 4x supersampling."""
    big = side * 4
    im = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(im)
    for points, width in strokes:
        xy = [(x * big, y * big) for x, y in points]
        draw.line(xy, fill=255, width=max(1, round(width * big)), joint="curve")
        r = width * big / 2
        for x, y in xy:  # round stroke ends, like a pen
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(im.resize((side, side), Image.Resampling.BOX), dtype=np.float32) / 255


def lighting(kind: str, h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "gradient":  # a window on one side: half as bright on the far side
        return 0.45 + 0.33 * x / w + 0.22 * (1 - y / h)
    r = np.hypot((x - w * 0.4) / w, (y - h * 0.45) / h)  # vignette
    return np.clip(1.0 - 1.1 * r**2, 0.25, 1.0)


def photo(w: int = 700, h: int = 560, glyph: int = 260, at: tuple[float, float] = (0.5, 0.5),
          paper=(0.93, 0.9, 0.8), ink=(0.12, 0.1, 0.15), light: str | None = None, noise: float = 0.015,
          strokes=YONG, seed: int = 0) -> Image.Image:
    """A photographed-looking RGB picture of ``strokes``: tinted paper, sensor noise, a little blur."""
    rng = np.random.default_rng(seed)
    cov = np.zeros((h, w), np.float32)
    y0, x0 = int(at[1] * h - glyph / 2), int(at[0] * w - glyph / 2)
    if glyph:  # 0: a blank page
        cov[y0:y0 + glyph, x0:x0 + glyph] = coverage(glyph, strokes)
    img = np.asarray(paper, np.float32) * (1 - cov[..., None]) + np.asarray(ink, np.float32) * cov[..., None]
    if light:
        img = img * lighting(light, h, w)[..., None]
    img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    im = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return im.filter(ImageFilter.GaussianBlur(0.8))


def sheet(rows: int = 3, cols: int = 4, cell: int = 200, light: str | None = None, seed: int = 0) -> Image.Image:
    """A photographed sheet: SHAPES in a rows x cols grid, each jittered a little in its cell."""
    rng = np.random.default_rng(seed)
    h, w = (rows + 1) * cell, (cols + 1) * cell
    cov = np.zeros((h, w), np.float32)
    g = int(cell * 0.78)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        y0 = int(cell / 2 + r * cell + (cell - g) / 2 + rng.uniform(-0.05, 0.05) * cell)
        x0 = int(cell / 2 + c * cell + (cell - g) / 2 + rng.uniform(-0.05, 0.05) * cell)
        cov[y0:y0 + g, x0:x0 + g] = np.maximum(cov[y0:y0 + g, x0:x0 + g], coverage(g, SHAPES[i % len(SHAPES)]))
    img = np.asarray((0.95, 0.93, 0.85), np.float32) * (1 - cov[..., None]) + 0.1 * cov[..., None]
    if light:
        img = img * lighting(light, h, w)[..., None]
    img = img + rng.normal(0, 0.015, img.shape).astype(np.float32)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))


def pixels(im: Image.Image) -> tuple[np.ndarray, str]:
    return np.asarray(im, dtype=np.float32) / 255.0, im.mode


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 128, b >= 128
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def clean_ref() -> np.ndarray:
    """The figure as a perfect scan: black on white, no noise."""
    return normalize_glyph(*pixels(photo(paper=(1, 1, 1), ink=(0, 0, 0), noise=0.0)))


def check_glyph(out: np.ndarray, ref: np.ndarray | None = None) -> None:
    """Shape, dtype, paper 0, solid ink, centred and filling the box inside the margins."""
    assert out.shape == (SIZE, SIZE) and out.dtype == np.uint8
    ink = out >= 128
    assert 0.05 < ink.mean() < 0.5
    # Paper is exactly 0 away from the strokes; the strokes themselves are solid.
    near = np.zeros_like(ink)
    ys, xs = np.nonzero(ink)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            near[np.clip(ys + dy, 0, SIZE - 1), np.clip(xs + dx, 0, SIZE - 1)] = True
    assert out[~near].max() <= 3, "paper away from the strokes must be 0"
    assert np.median(out[ink]) >= 235, "solid strokes must be near 255"
    # The long side of the ink box touches the margins, and the box is centred.
    m = MARGIN * SIZE
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    long = max(y1 - y0, x1 - x0)
    assert abs(long - (SIZE - 2 * m)) <= 2.5, (y0, y1, x0, x1)
    assert abs((y0 + y1) / 2 - SIZE / 2) <= 1.5 and abs((x0 + x1) / 2 - SIZE / 2) <= 1.5, (y0, y1, x0, x1)
    if ref is not None:
        assert iou(out, ref) >= 0.8


# ---------------------------------------------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stem", "char"), [
    ("永", "永"), ("U+6C38", "永"), ("u6c38", "永"), ("u+6c38", "永"), ("U+6C38_2", "永"),
    ("永_2", "永"), ("永-2", "永"), ("永 (2)", "永"), ("永(12)", "永"), ("永 3", "永"),
    ("㐀", "㐀"), ("𠀀", "𠀀"), ("U+20000", "𠀀"), ("\uf900", "\uf900"), ("U+F900", "\uf900"),  # ext A, B, compat.
    ("IMG_1234", None), ("IMG_0001", None), ("A", None), ("7", None), ("a_2", None), ("U+0041", None),
    ("永永", None), ("", None), ("_2", None), ("U+D800", None), ("U+110000", None), ("scan", None),
])
def test_char_from_filename(stem: str, char: str | None) -> None:
    assert char_from_filename(stem) == char


def test_char_from_filename_allow_any() -> None:
    assert char_from_filename("A", allow_any=True) == "A"
    assert char_from_filename("é_2", allow_any=True) == "é"
    assert char_from_filename("e\u0301", allow_any=True) == "é"  # macOS writes names decomposed
    assert char_from_filename("U+0041", allow_any=True) == "A"
    assert char_from_filename("IMG_1234", allow_any=True) is None
    assert char_from_filename("U+0009", allow_any=True) is None  # a tab is not something written
    assert char_from_filename("永", allow_any=True) == "永"


# ---------------------------------------------------------------------------------------------------------------
# One photo
# ---------------------------------------------------------------------------------------------------------------


CONDITIONS = {
    "tinted paper": dict(paper=(0.95, 0.88, 0.6)),
    "uneven light": dict(light="gradient"),
    "vignette": dict(light="vignette", glyph=330),
    "inverted": dict(paper=(0.1, 0.12, 0.1), ink=(0.92, 0.9, 0.85)),
    "blue pen": dict(paper=(0.95, 0.95, 0.97), ink=(0.15, 0.2, 0.6), light="gradient"),
    "faint pencil": dict(ink=(0.55, 0.55, 0.58), noise=0.02),
    "off-centre, big margins": dict(w=1600, h=1200, glyph=220, at=(0.22, 0.75)),
    "cropped tight": dict(w=260, h=260, glyph=260),
    "small photo": dict(w=90, h=80, glyph=60),
}


@pytest.mark.parametrize("condition", CONDITIONS)
def test_normalize_under_photo_conditions(condition: str, clean_ref: np.ndarray) -> None:
    out = normalize_glyph(*pixels(photo(**CONDITIONS[condition])), size=SIZE, margin=MARGIN)
    check_glyph(out, clean_ref)


def test_clean_reference_is_a_proper_glyph(clean_ref: np.ndarray) -> None:
    check_glyph(clean_ref)


def test_specks_and_page_edge_are_ignored(clean_ref: np.ndarray) -> None:
    im = photo(w=900, h=700, glyph=260)
    a = np.asarray(im).copy()
    rng = np.random.default_rng(3)
    for y, x in zip(rng.integers(0, 700, 60), rng.integers(0, 900, 60), strict=True):  # dust
        a[y:y + 3, x:x + 3] = 40
    a[:, :35] = (a[:, :35] * np.linspace(0.1, 1, 35)[None, :, None]).astype(np.uint8)  # page edge shadow
    out = normalize_glyph(*pixels(Image.fromarray(a)))
    check_glyph(out, clean_ref)


def test_same_glyph_agrees_across_conditions() -> None:
    outs = [normalize_glyph(*pixels(photo(**kw))) for kw in CONDITIONS.values()]
    for a in outs[1:]:
        assert iou(a, outs[0]) >= 0.8


def test_size_margin_and_explicit_polarity() -> None:
    im = photo(paper=(0.1, 0.1, 0.1), ink=(0.9, 0.9, 0.9))
    out = normalize_glyph(*pixels(im), size=32, margin=0.0, ink="light")
    assert out.shape == (32, 32)
    ys, xs = np.nonzero(out >= 128)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 >= 31
    # Told the polarity, dark ink on light paper and light ink on dark paper give the same glyph.
    dark = normalize_glyph(*pixels(photo()), ink="dark")
    assert iou(dark, normalize_glyph(*pixels(im), ink="light")) >= 0.8


def test_bad_arguments_are_glyph_errors() -> None:
    px, kind = pixels(photo())
    with pytest.raises(GlyphError, match="did you mean 'dark'"):
        normalize_glyph(px, kind, ink="drak")
    with pytest.raises(GlyphError, match="kind"):
        normalize_glyph(px, "CMYK")
    with pytest.raises(GlyphError, match="margin"):
        normalize_glyph(px, kind, margin=0.5)
    with pytest.raises(GlyphError, match="too small"):
        normalize_glyph(np.ones((4, 4), np.float32), "L")


@pytest.mark.parametrize("light", [None, "gradient", "vignette"])
def test_blank_photo_raises(light: str | None) -> None:
    blank = photo(glyph=0, light=light, noise=0.03)
    with pytest.raises(BlankImageError, match="no ink"):
        normalize_glyph(*pixels(blank))
    with pytest.raises(BlankImageError):
        normalize_glyph(np.full((300, 400), 0.8, np.float32), "L")


def test_fully_transparent_is_blank() -> None:
    with pytest.raises(BlankImageError, match="transparent"):
        normalize_glyph(np.zeros((50, 50, 4), np.float32), "RGBA")


@pytest.mark.skipif(not UKAI.exists(), reason="needs the AR PL UKai font (fonts-arphic-ukai)")
def test_font_rendered_character_in_a_photo() -> None:
    font = ImageFont.truetype(str(UKAI), 300)
    im = Image.new("L", (600, 480), 255)
    ImageDraw.Draw(im).text((300, 240), "永", font=font, fill=0, anchor="mm")
    scan = normalize_glyph(*pixels(im))
    cov = 1.0 - np.asarray(im, np.float32) / 255
    rgb = np.asarray((0.9, 0.85, 0.7), np.float32) * (1 - cov[..., None]) + 0.15 * cov[..., None]
    rgb = rgb * lighting("gradient", 480, 600)[..., None]
    shot = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    out = normalize_glyph(*pixels(shot))
    check_glyph(scan)
    assert iou(out, scan) >= 0.8


# ---------------------------------------------------------------------------------------------------------------
# Files and folders
# ---------------------------------------------------------------------------------------------------------------


def write_formats(folder: Path) -> dict[str, str]:
    """One file per tricky format, all of the same figure; returns file name -> its character."""
    base = photo()
    # EXIF orientation 6 ("rotate 90 degrees clockwise to display"): the pixels are stored turned left.
    exif = Image.Exif()
    exif[0x0112] = 6
    base.transpose(Image.Transpose.ROTATE_90).save(folder / "水.jpg", quality=92, exif=exif)
    # Dark strokes on a transparent background, random colours hidden under alpha = 0.
    rng = np.random.default_rng(1)
    alpha = (coverage(260) * 255).astype(np.uint8)
    rgba = np.dstack([rng.integers(0, 256, (260, 260, 3), dtype=np.uint8), alpha])
    rgba[alpha > 0, :3] = (20, 30, 90)
    Image.fromarray(rgba, "RGBA").save(folder / "火.png")
    # White strokes on transparent (a "light ink" export).
    white = np.dstack([np.full((260, 260, 3), 255, np.uint8), alpha])
    Image.fromarray(white, "RGBA").save(folder / "U+6728.png")  # 木
    base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "金.png")
    wide = (np.asarray(photo(light="gradient").convert("L"), np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(folder / "土_2.png")  # 16-bit greyscale
    base.convert("LA").save(folder / "土-3.png")
    return {"水.jpg": "水", "火.png": "火", "U+6728.png": "木", "金.png": "金", "土_2.png": "土", "土-3.png": "土"}


def test_file_formats_through_read_image(tmp_path: Path, clean_ref: np.ndarray) -> None:
    names = write_formats(tmp_path)
    assert Image.open(tmp_path / "土_2.png").mode.startswith("I")
    assert Image.open(tmp_path / "金.png").mode == "P"
    refs = load_references(tmp_path)
    assert isinstance(refs, RefSet)
    assert refs.skipped == []
    assert sorted(Path(f).name for f in refs.files) == sorted(names)
    for f, ch, img in zip(refs.files, refs.chars, refs.images, strict=True):
        assert names[Path(f).name] == ch
        check_glyph(img, clean_ref)
    # The EXIF test must be able to fail: ignoring the tag gives a turned glyph that does not match.
    stored = np.asarray(Image.open(tmp_path / "水.jpg"), np.float32) / 255
    assert iou(normalize_glyph(stored, "RGB"), clean_ref) < 0.6


def test_load_references_skips_bad_files(tmp_path: Path, clean_ref: np.ndarray) -> None:
    folder = tmp_path / "mywriter"
    folder.mkdir()
    photo(light="gradient").save(folder / "永.jpg", quality=90)
    photo(paper=(0.95, 0.88, 0.6)).save(folder / "永_2.png")
    photo(paper=(0.1, 0.1, 0.1), ink=(0.9, 0.9, 0.9)).save(folder / "U+6C38 (3).png")
    (folder / "坏.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)  # corrupt
    (folder / "空.png").write_bytes(b"")  # zero bytes
    photo().save(folder / "IMG_0001.png")  # a camera name, not a character
    photo(glyph=0, light="vignette").save(folder / "白.jpg")  # blank paper
    (folder / "notes.txt").write_text("not an image, ignored silently")
    (folder / "sub").mkdir()
    outside = tmp_path / "elsewhere.png"
    photo().save(outside)
    expected_skips = {"坏.png", "空.png", "IMG_0001.png", "白.jpg", "sub"}
    if hasattr(os, "symlink"):
        (folder / "水.png").symlink_to(outside)
        expected_skips.add("水.png")

    refs = load_references(folder, size=SIZE)
    assert refs.images.shape == (3, SIZE, SIZE) and refs.images.dtype == np.uint8
    assert refs.chars == ["永", "永", "永"]
    assert sorted(Path(f).name for f in refs.files) == ["U+6C38 (3).png", "永.jpg", "永_2.png"]
    for img in refs.images:
        check_glyph(img, clean_ref)
    reasons = {Path(p).name: r for p, r in refs.skipped}
    assert set(reasons) == expected_skips
    assert "unreadable" in reasons["坏.png"] or "not an image" in reasons["坏.png"]
    assert "0 bytes" in reasons["空.png"]
    assert "not a character" in reasons["IMG_0001.png"] and "永.png" in reasons["IMG_0001.png"]
    assert "no ink" in reasons["白.jpg"]
    assert "outside" in reasons.get("水.png", "outside")
    assert all("\n" not in r for r in reasons.values())


def test_load_references_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(GlyphError, match=r"does not exist.*永\.png"):
        load_references(tmp_path / "missing")
    photo().save(tmp_path / "永.png")
    with pytest.raises(GlyphError, match=r"is a file, not a folder.*U\+6C38\.png"):
        load_references(tmp_path / "永.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GlyphError, match=r"no usable reference image.*found 0.*永_2\.jpg"):
        load_references(empty)
    bad = tmp_path / "bad"
    bad.mkdir()
    photo().save(bad / "IMG_0001.png")
    (bad / "空.png").write_bytes(b"")
    with pytest.raises(GlyphError, match=r"found 2 image files.*IMG_0001"):
        load_references(bad)


def test_allow_any_accepts_latin_names(tmp_path: Path) -> None:
    photo().save(tmp_path / "A.png")
    with pytest.raises(GlyphError):
        load_references(tmp_path)
    assert load_references(tmp_path, allow_any=True).chars == ["A"]


# ---------------------------------------------------------------------------------------------------------------
# Sheets
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shape_refs() -> list[np.ndarray]:
    return [normalize_glyph(*pixels(photo(paper=(1, 1, 1), ink=(0, 0, 0), noise=0.0, strokes=s))) for s in SHAPES]


@pytest.mark.parametrize("grid", [None, (3, 4)])
@pytest.mark.parametrize("light", [None, "gradient"])
def test_slice_sheet(grid: tuple[int, int] | None, light: str | None, shape_refs: list[np.ndarray]) -> None:
    refs = slice_sheet(*pixels(sheet(light=light)), SHEET_TEXT, grid=grid, size=SIZE, source="page1.jpg")
    assert refs.images.shape == (12, SIZE, SIZE) and refs.images.dtype == np.uint8
    assert refs.chars == list("永二仆十口八小三一乚叶人")
    assert (refs.files[0], refs.files[5], refs.files[-1]) == ("page1.jpg#r1c1", "page1.jpg#r2c2", "page1.jpg#r3c4")
    assert refs.skipped == []
    for i, out in enumerate(refs.images):
        scores = [iou(out, r) for r in shape_refs]
        assert int(np.argmax(scores)) == i, f"cell {i} looks like figure {int(np.argmax(scores))}"
        assert scores[i] >= 0.75
        assert out[0].max() == 0 and out[:, 0].max() == 0  # paper around every glyph


def test_slice_sheet_partial_last_row_with_grid() -> None:
    refs = slice_sheet(*pixels(sheet()), "永二仆十口八小三一乚", grid=(3, 4))
    assert len(refs) == 10 and refs.files[-1] == "sheet#r3c2"


@pytest.mark.parametrize("text", ["永二仆十口八小三一乚叶", "永二仆十口八小三一乚叶人大", "永二仆十口八小三一乚"])
def test_slice_sheet_wrong_count(text: str) -> None:
    with pytest.raises(GlyphError, match=rf"12 characters.*has {len(text)}.*give the grid \(ROWSxCOLS"):
        slice_sheet(*pixels(sheet()), text)


def test_slice_sheet_grid_and_text_errors() -> None:
    px, kind = pixels(sheet())
    with pytest.raises(GlyphError, match=r"grid 3x4 has 12 cells but the text has 13"):
        slice_sheet(px, kind, "永二仆十口八小三一乚叶人大", grid=(3, 4))
    with pytest.raises(GlyphError, match="empty"):
        slice_sheet(px, kind, " \n ")
    with pytest.raises(BlankImageError):
        slice_sheet(*pixels(photo(glyph=0)), "永")


@pytest.mark.parametrize("grid", [(4, 3), (2, 6), (6, 2), (1, 12)])
def test_a_grid_that_does_not_fit_the_writing_is_refused(grid: tuple[int, int]) -> None:
    """12 characters in 3 rows of 4: any other grid of 12 cells would cut strokes apart and misname every cell."""
    with pytest.raises(GlyphError, match=f"does not fit a {grid[0]}x{grid[1]} grid"):
        slice_sheet(*pixels(sheet()), SHEET_TEXT, grid=grid)


def test_slice_sheet_empty_cell_is_skipped() -> None:
    a = np.asarray(sheet()).copy()
    a[300:500, 500:700] = np.median(a[:60, :60], axis=(0, 1))  # paper over the third character of row 2
    refs = slice_sheet(*pixels(Image.fromarray(a)), SHEET_TEXT, grid=(3, 4))
    assert len(refs) == 11
    assert refs.skipped == [("sheet#r2c3", "'小': no ink found in this cell")]


@pytest.mark.parametrize("grid", [None, (2, 4)])
def test_slice_sheet_of_grey_photo_tiles_on_white(grid: tuple[int, int] | None) -> None:
    """Photos pasted on a white page: the white gutters look like light ink on the grey photos, so the first
    guess of the ink is wrong; the other reading fits the text and is kept (an explicit ink is never second-guessed)."""
    folder = Path(__file__).resolve().parents[1] / "core" / "assets" / "examples" / "handwriting"
    files = sorted(folder.glob("*.jpg"))[:8]
    tiles = [np.pad(np.asarray(Image.open(f).convert("L").resize((200, 200))), 10, constant_values=255)
             for f in files]
    page = np.vstack([np.hstack(tiles[:4]), np.hstack(tiles[4:])])
    assert np.median(page) < 230  # grey photos: the paper is not white
    text = "".join(f.stem for f in files)
    refs = slice_sheet(page, "L", text, grid=grid)
    assert refs.chars == list(text) and not refs.skipped
    assert np.array_equal(refs.images, slice_sheet(page, "L", text, grid=grid, ink="dark").images)
    with pytest.raises(GlyphError):
        slice_sheet(page, "L", text, grid=grid, ink="light")


# ---------------------------------------------------------------------------------------------------------------
# Connected components (the speck and page-edge filters rest on them)
# ---------------------------------------------------------------------------------------------------------------


def flood_count(binary: np.ndarray) -> int:
    seen = np.zeros_like(binary)
    h, w = binary.shape
    count = 0
    for y, x in zip(*np.nonzero(binary), strict=True):
        if seen[y, x]:
            continue
        count += 1
        stack = [(y, x)]
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            for ny in range(max(0, cy - 1), min(h, cy + 2)):
                for nx in range(max(0, cx - 1), min(w, cx + 2)):
                    if binary[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
    return count


@pytest.mark.parametrize("seed", range(5))
def test_components_match_a_flood_fill(seed: int) -> None:
    binary = np.random.default_rng(seed).random((40, 57)) < 0.4
    comps = _components(binary)
    assert comps.n == flood_count(binary)
    assert int(comps.area.sum()) == int(binary.sum())
    assert ((comps.labels > 0) == binary).all()
    # Diagonal neighbours are connected (8-connectivity).
    assert _components(np.eye(6, dtype=bool)).n == 1


def test_read_image_result_feeds_normalize(tmp_path: Path, clean_ref: np.ndarray) -> None:
    photo(light="vignette").save(tmp_path / "永.webp", quality=90)
    out = normalize_glyph(*read_image(tmp_path / "永.webp"))
    check_glyph(out, clean_ref)
