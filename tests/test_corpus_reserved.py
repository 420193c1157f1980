"""The reserved faces never enter the corpus: glyph keeps them for independent checks on unseen writers."""

from __future__ import annotations

import re

from glyph.data import corpus_manifest

# Klee One, SetoFont, Aoyagi Soseki, Kouzan Brush Sousyo, Zen Kurenaido, Yomogi, Long Cang, as they are
# spelled in ids, family names, file names and package names once case, spaces and punctuation are gone.
# (kouzan-mouhitsu.ttf and kouzan-mouhitsu-gyosho.ttf are other Kouzan faces, not reserved.)
RESERVED = ("kleeone", "setofont", "aoyagisoseki", "kouzanbrushsousyo", "kouzanbrushfontsousyo",
            "kouzansousyo", "zenkurenaido", "yomogi", "longcang")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def reserved_in(entry: dict) -> list[str]:
    """The reserved names found in any text field of a corpus entry."""
    text = " ".join(_squash(str(v)) for v in entry.values())
    return [r for r in RESERVED if r in text]


def test_no_reserved_face_is_in_the_corpus():
    manifest = corpus_manifest()
    found = {f["id"]: reserved_in(f) for f in manifest["face"] if reserved_in(f)}
    found.update({name: reserved_in({"npm": name}) for name in manifest.get("npm", {})
                  if reserved_in({"npm": name})})
    assert not found, f"reserved faces entered core/data/corpus.toml: {found}"


def test_the_check_catches_every_spelling():
    assert reserved_in({"file": "/usr/share/fonts/truetype/kouzan/KouzanBrushFontSousyo.ttf"})
    assert reserved_in({"family": "Klee One", "style": "SemiBold"})
    assert reserved_in({"npm": "@fontsource/zen-kurenaido"}) and reserved_in({"id": "long_cang"})
    assert reserved_in({"package": "fonts-aoyagi-soseki"}) and reserved_in({"family": "SetoFont SP"})
    assert reserved_in({"id": "YOMOGI regular"})
    assert not reserved_in({"file": "/usr/share/fonts/truetype/kouzan-mouhitsu/kouzan-mouhitsu-gyosho.ttf"})
    assert not reserved_in({"family": "KouzanBrushFont", "package": "fonts-kouzan-mouhitsu"})
