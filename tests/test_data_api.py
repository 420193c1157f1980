"""The Python API behind ``glyph data ...``: each command's work called directly, its returned values checked.

Tiny inputs only (8-16 px datasets, the committed stroke fixture, fake faces), so every test takes well under a
second or two; the commands themselves are tested through the console script in tests/test_data_cli.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from glyph.data import coverage as coverage_mod
from glyph.data import fonts as fonts_mod
from glyph.data.coverage import CHARSETS, coverage_rows
from glyph.data.damage import Damage, write_damage_pairs
from glyph.data.fonts import Face, Source, missing_sources
from glyph.data.merge import merge_files, writer_sources
from glyph.data.packed import load_packed, save_packed
from glyph.data.refs import RefSet, write_refset
from glyph.data.render import make_spec, render_and_save
from glyph.data.sources import pack_dataset, write_preview
from glyph.data.synth import synth_and_save
from glyph.dataset import GlyphData
from glyph.errors import GlyphError
from glyph.imageio import read_image

from .conftest import NOTO_SANS, UKAI, require_font

STROKES = Path(__file__).parent / "data" / "hanzi-writer-data"


def _data(chars: str, writers: list[str], source: str = "fonts", size: int = 8) -> GlyphData:
    """Every writer drawing every character: a square of ink whose size depends on the character."""
    rows = [(c, w) for w in range(len(writers)) for c in range(len(chars))]
    images = torch.zeros((len(rows), 1, size, size), dtype=torch.uint8)
    for i, (c, w) in enumerate(rows):
        images[i, 0, 1:2 + c, 1:2 + w] = 255
    labels = {"char": torch.tensor([c for c, _ in rows]), "writer": torch.tensor([w for _, w in rows])}
    meta = {"ink": "glyph", "source": source,
            "splits": {"unseen_writers": writers[-1:], "unseen_chars": [], "seed": ["0"]}}
    return GlyphData(images, labels, {"char": list(chars), "writer": writers}, meta)


def _packed(tmp_path: Path, name: str, data: GlyphData) -> Path:
    return save_packed(data, tmp_path / f"{name}.safetensors")


def test_write_refset_names_samples_and_keeps_unsafe_characters_inside(tmp_path):
    images = np.zeros((4, 8, 8), np.uint8)
    images[0, 2:6, 2:6] = 255
    refs = RefSet(images, ["永", "永", "/", "."], ["a"] * 4)
    assert write_refset(refs, tmp_path / "r") == 4
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["U+002E.png", "U+002F.png", "永.png", "永_2.png"]
    img, _ = read_image(tmp_path / "r" / "永.png")
    assert img[0, 0] == pytest.approx(1.0) and img[3, 3] == pytest.approx(0.0)  # dark ink on white
    with pytest.raises(GlyphError, match="not an empty folder"):
        write_refset(refs, tmp_path / "r")


def test_write_damage_pairs_writes_pairs_and_reports_each_step(tmp_path):
    src = _packed(tmp_path, "clean", _data("永和", ["a", "b"], size=16))
    seen: list[tuple[str, int, int]] = []
    result = write_damage_pairs(src, tmp_path / "d", seed=1, config=Damage(k=2), template_font=None,
                                progress=lambda task, done, total: seen.append((task, done, total)))
    assert (result.pairs, result.templates, result.template_error, result.template_missing) == (4, 0, None, 0)
    assert sorted(str(p.relative_to(tmp_path / "d")) for p in (tmp_path / "d").rglob("*.png")) == [
        "clean/a/和.png", "clean/a/永.png", "clean/b/和.png", "clean/b/永.png",
        "damaged/a/和.png", "damaged/a/永.png", "damaged/b/和.png", "damaged/b/永.png"]
    assert ("damaging", 4, 4) in seen and seen[-1] == ("writing pairs", 4, 4)
    assert write_damage_pairs(src, tmp_path / "e", n=2, template_font=None).pairs == 2  # only the first n
    assert len(list((tmp_path / "e" / "damaged").rglob("*.png"))) == 2
    write_damage_pairs(src, tmp_path / "f", seed=1, config=Damage(k=2), template_font=None)
    assert (tmp_path / "f" / "damaged" / "b" / "永.png").read_bytes() == \
        (tmp_path / "d" / "damaged" / "b" / "永.png").read_bytes()  # seeded: the same damage again


def test_write_damage_pairs_reports_an_unusable_template_font_instead_of_raising(tmp_path):
    src = _packed(tmp_path, "clean", _data("永", ["a"]))
    result = write_damage_pairs(src, tmp_path / "d", template_font=str(tmp_path / "nofont.ttf"))
    assert result.pairs == 1 and result.templates == 0 and "does not exist" in result.template_error
    assert not (tmp_path / "d" / "template").exists()


def test_write_damage_pairs_renders_templates(tmp_path):
    require_font(NOTO_SANS)
    src = _packed(tmp_path, "clean", _data("永和", ["a"], size=16))
    result = write_damage_pairs(src, tmp_path / "d")
    assert (result.pairs, result.templates, result.template_missing) == (2, 2, 0)
    assert sorted(p.name for p in (tmp_path / "d" / "template").iterdir()) == ["和.png", "永.png"]


def test_write_damage_pairs_refuses_colour_and_used_folders(tmp_path):
    colour = GlyphData(torch.zeros((2, 3, 8, 8), dtype=torch.uint8), {}, {}, {"ink": "color"})
    with pytest.raises(GlyphError, match="colour images"):
        write_damage_pairs(_packed(tmp_path, "colour", colour), tmp_path / "d")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(GlyphError, match="not an empty folder"):
        write_damage_pairs("embedded", tmp_path / "used")


def test_render_and_save_splits_but_never_holds_out_the_template_face(tmp_path):
    require_font(NOTO_SANS)
    require_font(UKAI)
    calls: list[tuple[int, int]] = []
    r = render_and_save(tmp_path / "r.safetensors", "noto-sans-sc-regular,ukai-cn", "永和九", size=16,
                        unseen_writers=1.0, unseen_chars=0.0, workers=1, progress=lambda d, t: calls.append((d, t)))
    assert r.out == tmp_path / "r.safetensors" and r.out.is_file() and r.seconds >= 0
    assert len(r.data) == 6 and [f.face.label for f in r.faces] == ["noto-sans-sc-regular", "ukai-cn"]
    assert r.data.meta["splits"]["unseen_writers"] == ["ukai-cn"]  # all held out but the standard content face
    assert calls[-1] == (6, 6)
    assert load_packed(r.out).classes["writer"] == ["noto-sans-sc-regular", "ukai-cn"]
    kai = render_and_save(tmp_path / "k.safetensors", "noto-sans-sc-regular,ukai-cn", "永和九", size=16,
                          unseen_writers=0.0, unseen_chars=0.0, workers=1, hold_out=["kind:kai"])
    assert kai.data.meta["splits"]["unseen_writers"] == ["ukai-cn"]  # held out by its kind of script


def test_render_and_save_checks_everything_before_drawing(tmp_path):
    with pytest.raises(GlyphError, match=r"margin must be in \[0, 0.4\)"):
        render_and_save(tmp_path / "r.safetensors", charset="永", margin=5)
    with pytest.raises(GlyphError, match="render size must be at least 8"):
        make_spec(size=4)
    with pytest.raises(GlyphError, match="--hold-out kind:nope: none of the faces to render is of that kind"):
        render_and_save(tmp_path / "r.safetensors", "ukai-cn", charset="永", hold_out=["kind:nope"])
    with pytest.raises(GlyphError, match="--hold-out ukai-tw: none of the faces to render is named so"):
        render_and_save(tmp_path / "r.safetensors", "ukai-cn", charset="永", hold_out=["ukai-tw"])
    assert not (tmp_path / "r.safetensors").exists()


def test_synth_and_save_returns_skipped_characters_and_splits(tmp_path):
    calls: list[tuple[int, int]] = []
    r = synth_and_save(tmp_path / "s", 3, "是不了A", size=16, strokes=STROKES, unseen_writers=0.5, workers=1,
                       progress=lambda d, t: calls.append((d, t)))
    assert r.missing == ["A"] and len(r.charset) == 4 and len(r.data) == 9
    assert r.splits == r.data.meta["splits"] and set(r.splits["unseen_writers"]) <= set(r.data.classes["writer"])
    assert r.out == tmp_path / "s" and len(list(r.out.rglob("*.png"))) == 9  # a writers folder
    assert calls[-1] == (9, 9)
    with pytest.raises(GlyphError, match="margin"):
        synth_and_save(tmp_path / "t.safetensors", 1, "是", strokes=STROKES, margin=0.5)


def test_pack_dataset_recomputes_splits_and_names_the_output_in_errors(tmp_path):
    src = _packed(tmp_path, "src", _data("永和九年", ["a", "b"]))
    data = pack_dataset(src, tmp_path / "p.safetensors", unseen_chars=1.0)
    assert data.meta["splits"]["unseen_chars"] == sorted("永和九年") and data.meta["splits"]["unseen_writers"] == []
    assert load_packed(tmp_path / "p.safetensors").meta["splits"] == data.meta["splits"]
    kept = pack_dataset(src, tmp_path / "q.safetensors")
    assert kept.meta["splits"]["unseen_writers"] == ["b"]  # no shares given: the source's split stays
    with pytest.raises(GlyphError, match=r"^OUT must end in \.safetensors or \.safetensors\.gz, got p\.txt$"):
        pack_dataset(src, tmp_path / "p.txt", option="OUT")


def test_merge_files_names_sources_after_their_files(tmp_path):
    real = _packed(tmp_path, "real", _data("永和", ["noto", "ukai"], source="fonts"))
    mine = _packed(tmp_path, "mine", _data("和九", ["me"], source=""))
    merged = merge_files([str(real), str(mine)], tmp_path / "m.safetensors")
    assert merged.classes["char"] == list("永和九") and len(merged) == 6
    assert writer_sources(merged) == {"noto": "fonts", "ukai": "fonts", "me": "mine"}
    assert load_packed(tmp_path / "m.safetensors").meta["splits"]["unseen_writers"] == ["me", "ukai"]
    with pytest.raises(GlyphError, match="exists; choose a new file"):
        merge_files([str(real), str(mine)], tmp_path / "m.safetensors")
    with pytest.raises(GlyphError, match="--out must end in"):
        merge_files([str(real), str(mine)], tmp_path / "m.png")


def test_write_preview_counts_what_it_drew(tmp_path):
    src = _packed(tmp_path, "src", _data("永和九年", ["a", "b"]))
    assert write_preview(src, tmp_path / "all.png") == (8, 8)
    assert write_preview(src, tmp_path / "b.png", n=3, writer="b", seed=1) == (3, 8)
    img, _ = read_image(tmp_path / "b.png")
    assert img.ndim == 2 and img.max() == pytest.approx(1.0)  # paper is white
    with pytest.raises(GlyphError, match=r"no writer 'c' in .*; writers: a, b"):
        write_preview(src, tmp_path / "c.png", writer="c")


def _face(name: str, kind: str = "") -> Face:
    return Face(Path(f"/fonts/{name}.ttf"), family=name, style="Regular", id=name if kind else "", kind=kind,
                source=f"pkg-{name}")


def test_coverage_rows_drop_non_cjk_faces_only_when_asked(monkeypatch):
    faces = [_face("cjk", "sans"), _face("latin")]
    counts = {"cjk": {**{cs: 100 for cs in CHARSETS}, **{f"cmap:{cs}": 103 for cs in CHARSETS}},
              "latin": {**{cs: 0 for cs in CHARSETS}, **{f"cmap:{cs}": 0 for cs in CHARSETS}}}
    monkeypatch.setattr(coverage_mod, "coverage", lambda fs: {f.spec: counts[f.family] for f in fs})
    rows = coverage_rows(faces)
    assert [r["face"] for r in rows] == ["cjk", "latin Regular"]
    cjk = rows[0]
    assert cjk["corpus"] is True and cjk["kind"] == "sans" and cjk["files"] == 1 and cjk["file"] == "/fonts/cjk.ttf"
    assert cjk["gb2312-1"] == 100 and cjk["dropped_by_ink_check"] == {cs: 3 for cs in CHARSETS}
    assert rows[1]["corpus"] is False
    assert [r["face"] for r in coverage_rows(faces, cjk_only=True)] == ["cjk"]


def test_missing_sources_groups_packages_by_the_command_that_brings_them(monkeypatch, tmp_path):
    here = tmp_path / "here.ttf"
    here.write_bytes(b"")
    gone = tmp_path / "gone.ttf"
    monkeypatch.setattr(fonts_mod, "corpus_sources", lambda: [
        Source("fonts-a", "debian", False, (Face(here),)),
        Source("fonts-b", "debian", False, (Face(here), Face(gone))),
        Source("@fontsource/c", "npm", True, (Face(gone, extra=True),)),
        Source("@fontsource/d", "npm", True, (Face(gone, extra=True),)),
    ])
    assert missing_sources() == {"bash .ci/setup": ["fonts-b"],
                                 "bash .ci/setup --corpus-extra": ["@fontsource/c", "@fontsource/d"]}
