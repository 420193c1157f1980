"""Fonts out: tracing, OpenType/TrueType builds that render back onto their bitmaps, install, preview, errors."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from glyph.font.trace import orient, trace

from .conftest import run_glyph

CHARS = "永和九年国书心的是我"


def test_trace_a_square_and_a_ring():
    sq = np.zeros((64, 64), np.float32)
    sq[16:48, 16:48] = 1
    (c,) = trace(sq)
    assert abs(abs(c.area) - 32 * 32) < 12 and 4 <= len(c.segments) <= 8  # four corners, straight sides
    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(xx - 31.5, yy - 31.5)
    ring = np.clip(20.5 - r, 0, 1) * np.clip(r - 9.5, 0, 1)  # anti-aliased, like rendered glyphs
    outer, inner = sorted(orient(trace(ring)), key=lambda c: -abs(c.area))
    assert outer.area > 0 > inner.area  # holes run the other way
    assert abs(outer.area - np.pi * 20**2) < 40 and abs(-inner.area - np.pi * 10**2) < 25
    specks = np.zeros((64, 64), np.float32)
    specks[5, 5] = specks[40, 40] = 1  # single-pixel noise is not a contour
    assert trace(specks) == []


@pytest.fixture(scope="module")
def bitmaps():
    from glyph.data.templates import template_glyphs

    return {c: g.astype(np.float32) / 255 for c, g in template_glyphs(CHARS).glyphs.items()}


@pytest.mark.parametrize("suffix", [".otf", ".ttf"])
def test_font_renders_back_onto_its_bitmaps(bitmaps, tmp_path, suffix, caplog):
    from fontTools.ttLib import TTFont
    from PIL import Image, ImageDraw, ImageFont

    from glyph.font import build_font

    path = tmp_path / f"hand{suffix}"
    report = build_font(bitmaps, path, "Test Hand")
    assert sorted(report.chars) == sorted(CHARS) and not report.skipped
    import io
    import logging

    font = TTFont(path)
    with caplog.at_level(logging.WARNING, logger="fontTools"):
        font.saveXML(io.StringIO())  # decompiles every table
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert ("CFF " in font) == (suffix == ".otf") and ("glyf" in font) == (suffix == ".ttf")
    cmap = font.getBestCmap()
    assert {ord(c) for c in CHARS} <= set(cmap) and 0x3000 in cmap
    assert font["hmtx"][cmap[ord("永")]][0] == 1000 and font["name"].getDebugName(1) == "Test Hand"
    face = ImageFont.truetype(str(path), 64)
    inter = union = 0
    for ch in CHARS:
        im = Image.new("L", (64, 64), 0)
        ImageDraw.Draw(im).text((0, 56), ch, font=face, fill=255, anchor="ls")
        a, b = np.asarray(im) > 127, bitmaps[ch] > 0.5
        i, u = int((a & b).sum()), int((a | b).sum())
        assert i / u > 0.85, ch  # each glyph, hinted by FreeType at 64 px
        inter, union = inter + i, union + u
    assert inter / union >= 0.9  # the set as a whole


def test_build_show_and_install_from_the_command_line(bitmaps, tmp_path):
    from glyph.imageio import read_image, write_image

    folder = tmp_path / "glyphs"
    for ch, g in bitmaps.items():
        write_image(folder / f"{ch}.png", 1.0 - g)  # dark on white, as glyph writes them
    write_image(folder / "notes.png", np.ones((64, 64)))
    r = run_glyph("font", "build", str(folder), "--name", "Glyph Test Hand", "--out", str(tmp_path / "h.otf"))
    assert r.code == 0, r.err
    assert "notes.png" in r.err and "10 glyphs" in r.err
    r = run_glyph("font", "show", str(tmp_path / "h.otf"), "--text", "永和九年\n国书", "--out", str(tmp_path / "p.png"))
    assert r.code == 0, r.err
    page = read_image(tmp_path / "p.png")[0]
    assert page.shape[0] > 2 * 64 and page.min() < 0.2  # two lines, with ink
    if shutil.which("fc-list") is None:
        if os.environ.get("GLYPH_REQUIRE_FONTS"):
            pytest.fail("fontconfig (fc-list) is missing; .ci/setup installs it")
        pytest.skip("fontconfig is not installed")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}  # fontconfig then uses ~/.local/share
    r = run_glyph("font", "install", str(tmp_path / "h.otf"), HOME=str(home))
    assert r.code == 0, r.err
    assert (home / ".local" / "share" / "fonts" / "h.otf").is_file()
    listed = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True,
                            env={**env, "HOME": str(home)}).stdout
    assert "Glyph Test Hand" in listed


@pytest.mark.parametrize(("args", "message"), [
    (["font", "build", "{nope}", "--name", "x", "--out", "{tmp}/x.otf"], "is not a folder"),
    (["font", "build", "{empty}", "--name", "x", "--out", "{tmp}/x.otf"], "no usable glyph image"),
    (["font", "build", "{empty}", "--name", "x", "--out", "{tmp}/x.woff"], ".otf (CFF outlines) or .ttf"),
    (["font", "show", "{nope}", "--text", "永", "--out", "{tmp}/p.png"], "does not exist"),
])
def test_bad_input_gets_one_line(tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    subs = {"{nope}": str(tmp_path / "nope"), "{empty}": str(tmp_path / "empty")}
    args = [subs.get(a, a.replace("{tmp}", str(tmp_path))) for a in args]
    r = run_glyph(*args)
    assert r.code == 1 and message in r.err and "Traceback" not in r.err


@pytest.mark.parametrize("suffix", [".otf", ".ttf"])
def test_a_family_named_in_chinese(bitmaps, tmp_path, suffix):
    """The name table carries any name; CFF's Latin-1 strings get the ASCII PostScript name instead of failing."""
    from fontTools.ttLib import TTFont

    from glyph.font import build_font

    path = tmp_path / f"hand{suffix}"
    build_font(bitmaps, path, "我的 手写 Font")
    font = TTFont(path)
    assert font["name"].getDebugName(1) == "我的 手写 Font"
    ps = font["name"].getDebugName(6)
    assert ps.isascii() and ps.startswith("Font") and ps.endswith("-Regular") and len(ps) > len("Font-Regular")
    from glyph.font.build import ps_name

    assert ps != ps_name("他的 手写 Font", "Regular")  # two such fonts installed side by side
    assert ps_name("我的手写", "Regular").startswith("Glyph") and ps_name("My Hand", "Bold") == "MyHand-Bold"
