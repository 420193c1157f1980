"""Charsets, font discovery and coverage, rendering."""

from __future__ import annotations

import json

import numpy as np
import pytest

from glyph import GlyphError
from glyph.data.charsets import Charset, gb2312_code, load_charset, parse_char_name
from glyph.data.fonts import corpus_faces, parse_font_specs, standard_content_face
from glyph.data.render import RenderSpec, render_faces

from .conftest import KOUZAN_GYOUSYO, NOTO_SANS, UKAI, require_font


def test_builtin_charsets_have_their_sizes_and_stable_order():
    assert len(load_charset("gb2312-1")) == 3755
    assert len(load_charset("gb2312")) == 6763
    assert len(load_charset("jis-1")) == 2965
    g = load_charset("gb2312")
    assert g.chars[0] == "啊" and g.index["啊"] == 0 and g.chars[:3755] == load_charset("gb2312-1").chars
    common = load_charset("common-500")
    assert len(common) == 500 and set(common.chars) <= set(load_charset("gb2312-1").chars)
    assert "的" in load_charset("common-100") or "是" in load_charset("common-100")


def test_charset_from_text_file_and_json_round_trip(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("永 和\n九年永")
    cs = load_charset(str(f))
    assert cs.chars == list("永和九年") and cs.name == "mine"
    again = Charset.from_json(cs.to_json())
    assert again.chars == cs.chars and json.loads(cs.to_json())["chars"] == "永和九年"
    with pytest.raises(GlyphError, match="does not exist"):
        load_charset(str(tmp_path / "nope.txt"))
    with pytest.raises(GlyphError, match="between 1 and 3755"):
        load_charset("common-9999")


@pytest.mark.parametrize(("stem", "char"), [
    ("永", "永"), ("U+6C38", "永"), ("u6c38", "永"), ("永_2", "永"), ("48583", "角"), ("IMG_0001", None),
    ("abc", None), ("123", None), ("U+D800", None),
])
def test_file_stems_name_characters(stem, char):
    assert parse_char_name(stem) == char


def test_gb2312_codes_match_dsfgan_naming():
    assert gb2312_code("角") == 48583 and gb2312_code("A") is None and gb2312_code("丂") is None


def test_corpus_manifest_is_consistent():
    faces = [f for f in corpus_faces() if not f.extra]  # the default corpus; opt-in faces: test_corpus_sources.py
    assert len({f.id for f in faces}) == len(faces) == 26
    assert standard_content_face().family == "Noto Sans CJK SC"
    assert {f.kind for f in faces} >= {"kai", "song", "hei", "brush"}


def test_font_specs_resolve_and_fail_clearly(tmp_path):
    require_font(UKAI)
    (face,) = parse_font_specs("ukai-cn")
    assert face.index == 0 and face.kind == "kai"
    (by_path,) = parse_font_specs(f"{UKAI}:0")
    assert by_path.id == "ukai-cn"  # a corpus file given by path is still known as the corpus face
    with pytest.raises(GlyphError, match="has 4 face"):
        parse_font_specs(f"{UKAI}:9")
    with pytest.raises(GlyphError, match="does not exist"):
        parse_font_specs(str(tmp_path / "none.ttf"))
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"not a font")
    with pytest.raises(GlyphError, match="not a font file"):
        parse_font_specs(str(bad))
    with pytest.raises(GlyphError, match="glyph data fonts"):
        parse_font_specs("No Such Family")


def test_rendering_checks_cmap_ink_and_tofu():
    require_font(KOUZAN_GYOUSYO)
    face = parse_font_specs(KOUZAN_GYOUSYO)[0]
    (r,) = render_faces([face], list("啊永和A"), RenderSpec(size=32))
    # 啊 is in this face's cmap but draws nothing; a Chinese-only simplified form is missing.
    assert "啊" in r.dropped.get("blank", [])
    assert "永" in r.chars and r.images.shape == (len(r.chars), 32, 32)


def test_rendered_glyphs_are_fitted_centred_with_margin():
    require_font(NOTO_SANS)
    (face,) = parse_font_specs("noto-sans-sc-regular")
    spec = RenderSpec(size=64, margin=0.1)
    (r,) = render_faces([face], list("永一"), spec)
    for img in r.images:
        ys, xs = np.nonzero(img > 32)
        h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert max(h, w) in range(spec.inner - 2, spec.inner + 2)  # long side fills the inner box
        assert abs((ys.min() + ys.max()) / 2 - 31.5) <= 1.5 and abs((xs.min() + xs.max()) / 2 - 31.5) <= 1.5
        assert img[:4].max() == 0 and img[-4:].max() == 0  # the margin is paper
    (em,) = render_faces([face], list("一"), RenderSpec(size=64, fit="em"))
    assert (em.images[0] > 32).any(0).sum() > (em.images[0] > 32).any(1).sum() * 3  # 一 stays flat in em fit


def test_parallel_rendering_equals_serial():
    require_font(UKAI)
    faces = parse_font_specs("ukai-cn")
    chars = load_charset("gb2312-1").chars[:600]
    serial = render_faces(faces, chars, RenderSpec(size=32), workers=1)[0]
    parallel = render_faces(faces, chars, RenderSpec(size=32), workers=2)[0]
    assert serial.chars == parallel.chars and np.array_equal(serial.images, parallel.images)


def test_glyph_data_fonts_lists_the_corpus(glyph):
    require_font(UKAI)
    r = glyph("data", "fonts", "--json", "--font", "ukai-cn", "--font", "kouzan-gyousyo")
    assert r.code == 0, r.err
    rows = {x["face"]: x for x in json.loads(r.out)}
    assert rows["ukai-cn"]["gb2312"] == 6763 and rows["ukai-cn"]["corpus"]
    assert rows["kouzan-gyousyo"]["dropped_by_ink_check"]["gb2312"] > 0
