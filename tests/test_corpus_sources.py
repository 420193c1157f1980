"""The corpus's sources: the default set-up leaves the opt-in ones alone, faces split into subset files
render as one face, and `glyph data fonts` names what is missing with the command that gets it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glyph.data import corpus_manifest
from glyph.data.fonts import Face, corpus_faces, face_cmap, parse_font_specs, unreadable_files
from glyph.data.render import RenderSpec, render_faces

from .conftest import REPO, require_font

SETUP = REPO / ".ci" / "setup"
CEDAR = "/usr/share/fonts/truetype/motoya-l-cedar/MTLc3m.ttf"  # a small default corpus font


def _packages(what: str) -> list[str]:
    out = subprocess.run([sys.executable, str(REPO / ".ci" / "corpus_packages.py"), what], capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def test_default_setup_installs_only_the_default_corpus():
    faces = corpus_manifest()["face"]
    default = {f["package"] for f in faces if not f.get("extra")}
    extra = {f["package"] for f in faces if f.get("extra") and "package" in f}
    assert set(_packages("apt")) == default and not default & extra
    assert set(_packages("apt-extra")) == extra
    assert {p.rpartition("@")[0] for p in _packages("npm-extra")} == set(corpus_manifest()["npm"])
    # Everything opt-in in .ci/setup sits inside an `if [ "$corpus_extra" = 1 ]` block.
    text = SETUP.read_text()
    outside = re.sub(r'(?ms)^if \[ "\$corpus_extra" = 1 \]; then$.*?^fi$', "", text)
    assert "corpus_packages.py apt |" in outside
    assert not re.search(r"apt-extra|npm-extra|\bnpm pack\b", outside)


def test_setup_refuses_an_unknown_option():
    r = subprocess.run(["bash", str(SETUP), "--corpus-extras"], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown option --corpus-extras" in r.stderr


def test_every_corpus_face_names_its_source():
    manifest = corpus_manifest()
    faces = corpus_faces()
    assert len({f.id for f in faces}) == len(faces) >= 70
    for entry in manifest["face"]:
        assert ("package" in entry and "file" in entry) != ("npm" in entry and "files" in entry), entry["id"]
        if "npm" in entry:
            assert entry.get("extra") and entry["npm"] in manifest["npm"], entry["id"]
    assert "hanzi-writer-data" in manifest["npm"]


@pytest.fixture
def split_face(tmp_path):
    """Motoya Cedar cut into two subset .woff files plus one broken file, as Fontsource ships faces."""
    from fontTools import subset

    src = require_font(CEDAR)
    folder = tmp_path / "pkg"
    (folder / "files").mkdir(parents=True)
    for n, text in enumerate(("永和", "九年")):
        options = subset.Options()
        options.flavor = "woff"
        font = subset.load_font(str(src), options)
        sub = subset.Subsetter(options)
        sub.populate(text=text)
        sub.subset(font)
        subset.save_font(font, str(folder / "files" / f"cedar-{n}-400-normal.woff"), options)
    (folder / "files" / "cedar-2-400-normal.woff").write_bytes(b"wOFF but not really")
    return Face(folder, 0, "Cedar", "Regular", "cedar-split", "gothic", "@test/cedar", True,
                tuple(sorted((folder / "files").glob("cedar-[0-9]*-400-normal.woff"))))


def test_a_split_face_renders_each_character_from_its_file(split_face):
    assert {chr(c) for c in face_cmap(split_face)} >= set("永和九年")
    (bad,) = unreadable_files(split_face)
    assert bad[0].name == "cedar-2-400-normal.woff"
    spec = RenderSpec(size=48)
    (r,) = render_faces([split_face], list("永和九年国"), spec)
    (whole,) = render_faces(parse_font_specs(CEDAR), list("永和九年"), spec)
    assert r.chars == list("永和九年") and r.dropped == {"missing": ["国"]}
    # The same outlines as the whole font, whichever file holds them.
    assert np.abs(r.images.astype(int) - whole.images.astype(int)).mean() < 1.0
    assert split_face.spec == "cedar-split" and split_face.installed


def test_glyph_data_fonts_names_missing_sources_and_the_command(glyph, tmp_path):
    r = glyph("data", "fonts", "--sources", XDG_CACHE_HOME=str(tmp_path))
    assert r.code == 0, r.err
    assert "@fontsource/ma-shan-zheng" in r.out and "bash .ci/setup --corpus-extra" in r.err
    # One line per set-up command, naming the first missing sources (which ones depends on the machine's packages).
    assert re.search(r"\d+ corpus source\(s\) missing \(.+\); get them with `bash .ci/setup --corpus-extra`", r.err)
    rows = {x["source"]: x for x in json.loads(glyph("data", "fonts", "--sources", "--json",
                                                     XDG_CACHE_HOME=str(tmp_path)).out)}
    assert rows["@fontsource/ma-shan-zheng"]["installed"] == 0
    assert rows["@fontsource/ma-shan-zheng"]["get"] == "bash .ci/setup --corpus-extra"
    assert rows["fonts-noto-cjk"]["get"] == "bash .ci/setup" and not rows["fonts-noto-cjk"]["extra"]


def test_an_opt_in_face_that_is_missing_says_how_to_get_it(monkeypatch, tmp_path):
    from glyph import GlyphError

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(GlyphError, match=r"@fontsource/ma-shan-zheng: run `bash \.ci/setup --corpus-extra`"):
        parse_font_specs("ma-shan-zheng")


def test_installed_npm_faces_render(monkeypatch):
    face = next(f for f in corpus_faces() if f.id == "ma-shan-zheng")
    if not face.installed:
        pytest.skip("the opt-in npm faces are not installed (run `bash .ci/setup --corpus-extra`)")
    (r,) = render_faces([face], list("永和九年"), RenderSpec(size=32))
    assert r.chars == list("永和九年") and r.images.shape == (4, 32, 32) and not unreadable_files(face)
    assert face in parse_font_specs("corpus-all") and face not in parse_font_specs("corpus")
    assert Path(face.path).name == "@fontsource+ma-shan-zheng"
