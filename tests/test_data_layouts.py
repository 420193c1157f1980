"""Layouts (a)-(e) round-trip on real rendered glyphs; bad files are skipped one line each."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from glyph import GlyphData, GlyphError
from glyph.data.packed import load_packed, save_packed
from glyph.data.sources import detect_layout, open_dataset, save_dataset
from glyph.imageio import write_image


def by_key(data: GlyphData, *cols: str) -> dict:
    keys = zip(*(data.label_names(c) for c in cols), strict=True) if cols else ((i,) for i in range(len(data)))
    return {k: data.images[i].numpy() for i, k in enumerate(keys)}


def assert_same(a: GlyphData, b: GlyphData, *cols: str) -> None:
    ka, kb = by_key(a, *cols), by_key(b, *cols)
    assert ka.keys() == kb.keys()
    for k in ka:
        np.testing.assert_array_equal(ka[k], kb[k], err_msg=str(k))


@pytest.mark.parametrize(("layout", "cols", "kwargs"), [
    ("writers", ("char", "writer"), {}),
    ("writers", ("char", "writer"), {"naming": "unicode"}),
    ("writers", ("char", "writer"), {"naming": "gb2312"}),
    ("styles", ("char", "writer"), {}),
    ("classes", ("char", "writer"), {}),
    ("flat", (), {}),
    ("packed", ("char", "writer"), {}),
])
def test_layout_round_trip(small_glyphs, tmp_path, layout, cols, kwargs):
    out = tmp_path / ("d.safetensors" if layout == "packed" else "d")
    save_dataset(small_glyphs, out, layout, **kwargs)
    assert detect_layout(out) == layout
    back = open_dataset(out)
    if layout != "packed":
        assert back.meta["skipped"] == []
    assert back.images.shape == small_glyphs.images.shape and back.images.dtype == torch.uint8
    assert_same(small_glyphs, back, *cols)


def test_writers_layout_with_template_and_unseen_writers(small_glyphs, tmp_path):
    data = small_glyphs.subset(slice(None))
    data.meta = {**data.meta, "template_writer": "noto-sans-sc-regular", "splits": {"unseen_writers": ["uming-cn"]}}
    save_dataset(data, tmp_path / "w")
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["script", "template", "test"]
    assert (tmp_path / "w" / "test" / "uming-cn").is_dir()
    back = open_dataset(tmp_path / "w")
    assert back.meta["template_writer"] == "template" and back.meta["splits"]["unseen_writers"] == ["uming-cn"]
    assert set(back.classes["writer"]) == {"ukai-cn", "uming-cn", "template"}


def test_bad_files_are_skipped_one_line_each(small_glyphs, tmp_path):
    root = tmp_path / "w"
    save_dataset(small_glyphs, root, "writers")
    wdir = root / "script" / "ukai-cn"
    (wdir / "空.png").write_bytes(b"")
    (wdir / "坏.png").write_bytes((wdir / "永.png").read_bytes()[:40])
    (wdir / "文.png").write_text("text")
    (wdir / "IMG_0001.png").write_bytes((wdir / "永.png").read_bytes())
    (wdir / "永_2.png").write_bytes((wdir / "永.png").read_bytes())  # an exact duplicate
    (tmp_path / "secret.png").write_bytes((wdir / "永.png").read_bytes())
    os.symlink(tmp_path / "secret.png", wdir / "秘.png")
    back = open_dataset(root)
    reasons = {os.path.basename(p): why for p, why in back.meta["skipped"]}
    assert set(reasons) == {"空.png", "坏.png", "文.png", "IMG_0001.png", "永_2.png", "秘.png"}
    assert "empty file" in reasons["空.png"] and "not a character" in reasons["IMG_0001.png"]
    assert "duplicate" in reasons["永_2.png"] and "outside" in reasons["秘.png"]
    assert len(back) == len(small_glyphs)


def test_empty_and_wrong_sources_fail_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlyphError, match="no images in"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(GlyphError, match="no such file or folder"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(GlyphError, match="unknown layout 'writer' \\(did you mean 'writers'"):
        open_dataset(tmp_path / "empty", layout="writer")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(GlyphError, match="packed"):
        open_dataset(junk)


def test_save_never_overwrites(small_glyphs, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(GlyphError, match="not an empty folder"):
        save_dataset(small_glyphs, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


def test_flat_colour_folder_keeps_colour(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(5):
        img = np.zeros((40, 50, 3), np.float32)
        img[..., 0] = np.linspace(0, 1, 50)
        img[..., 2] = rng.random()
        write_image(tmp_path / "paint" / f"p{i}.jpg" if i % 2 else tmp_path / "paint" / "sub" / f"p{i}.png", img)
    data = open_dataset(tmp_path / "paint", size=32)
    assert data.images.shape == (5, 3, 32, 32) and data.meta["ink"] == "color"
    save_dataset(data, tmp_path / "again.safetensors")
    assert_same(data, load_packed(tmp_path / "again.safetensors"))


def test_polarity_light_ink_on_dark(small_glyphs, tmp_path):
    for i in range(4):
        write_image(tmp_path / "inv" / f"{i}.png", small_glyphs.images[i, 0].numpy() / 255.0)  # light on dark
    data = open_dataset(tmp_path / "inv", ink="auto")
    np.testing.assert_array_equal(data.images[:, 0].numpy(), small_glyphs.images[:4, 0].numpy())


def test_packed_gz_is_deterministic_and_loads_fast(small_glyphs, tmp_path):
    a = save_packed(small_glyphs, tmp_path / "a.safetensors.gz").read_bytes()
    b = save_packed(small_glyphs, tmp_path / "b.safetensors.gz").read_bytes()
    assert a == b
    big = GlyphData(small_glyphs.images.repeat(200, 1, 1, 1), {}, {}, {})
    save_packed(big, tmp_path / "big.safetensors")
    t = time.perf_counter()
    assert len(load_packed(tmp_path / "big.safetensors")) == len(big)
    assert time.perf_counter() - t < 5  # generous; the benchmark reports the real number


def test_embedded_dataset_ships_and_shows(glyph, tmp_path):
    data = open_dataset("embedded")
    assert data.images.shape[1:] == (1, 64, 64) and len(data.classes["writer"]) == 6
    assert len(data.classes["char"]) == 1000 and data.meta["charset"] == "common-1000"
    r = glyph("data", "show", "embedded", "--out", str(tmp_path / "g.png"), "--n", "16", "--writer", "ukai-cn")
    assert r.code == 0, r.err
    assert (tmp_path / "g.png").stat().st_size > 0
    r = glyph("data", "show", "embedded", "--out", str(tmp_path / "h.png"), "--writer", "nobody")
    assert r.code == 1 and "no writer 'nobody'" in r.err


def test_cli_render_pack_show(glyph, tmp_path):
    from .conftest import UKAI, require_font

    require_font(UKAI)
    r = glyph("data", "render", "--fonts", "ukai-cn", "--charset", "永和九年", "--size", "48",
              "--out", str(tmp_path / "r"))
    assert r.code == 0, r.err
    assert sorted(p.name for p in (tmp_path / "r" / "script" / "ukai-cn").iterdir()) == [
        "九.png", "和.png", "年.png", "永.png"]
    r = glyph("data", "pack", str(tmp_path / "r"), str(tmp_path / "r.safetensors"))
    assert r.code == 0, r.err
    d = load_packed(tmp_path / "r.safetensors")
    assert d.images.shape == (4, 1, 48, 48)
    r = glyph("data", "pack", str(tmp_path / "r"), str(tmp_path / "r.png"))
    assert r.code == 1 and "must end in .safetensors" in r.err


def test_cli_render_never_holds_out_the_template_face(glyph, tmp_path):
    from .conftest import NOTO_SANS, UKAI, require_font

    for f in (UKAI, NOTO_SANS):
        require_font(f)
    out = tmp_path / "r.safetensors"
    r = glyph("data", "render", "--fonts", "ukai-cn,noto-sans-sc-regular", "--charset", "永和九年", "--size", "32",
              "--unseen-writers", "1.0", "--out", str(out))
    assert r.code == 0, r.err
    assert load_packed(out).meta["splits"]["unseen_writers"] == ["ukai-cn"]  # the template stays seen
