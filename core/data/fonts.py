"""Finding CJK fonts and deciding which characters a face really draws.

A face is a file plus a face index (``.ttc`` collections hold several). Coverage is decided by the
cmap *and* by rendering: a character the cmap lacks, one mapped to ``.notdef``, one that renders no
ink, and one that renders exactly like the face's ``.notdef`` box (tofu) never enter a dataset.
Fonts are found through fontconfig when present, otherwise in the standard font folders of Linux,
macOS and Windows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import GlyphError, did_you_mean
from . import corpus_manifest

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
# Codepoints no CJK face maps (a noncharacter and the last private-use codepoints): their rendering is
# the face's .notdef glyph, the "tofu" a face draws for characters it lacks.
NOTDEF_PROBES = ("\U0010fffd", "\uffff", "\U000ffffd")


@dataclass(frozen=True)
class Face:
    """One font face: a file and its index in a collection, with names for people."""

    path: Path
    index: int = 0
    family: str = ""
    style: str = ""
    id: str = ""
    kind: str = ""

    @property
    def label(self) -> str:
        """A short unique name: the corpus id, else ``family style``, else the file name."""
        return self.id or " ".join(x for x in (self.family, self.style) if x) or self.path.name

    @property
    def spec(self) -> str:
        """``PATH:INDEX``, the form ``--font`` accepts."""
        return f"{self.path}:{self.index}"


def corpus_faces() -> list[Face]:
    """The training corpus (core/data/corpus.toml), installed or not."""
    return [Face(Path(f["file"]), int(f["index"]), f["family"], f["style"], f["id"], f["kind"])
            for f in corpus_manifest()["face"]]


def standard_content_face() -> Face:
    """Noto Sans CJK SC Regular (= Source Han Sans), the template font of DSF-GAN and glyph."""
    wanted = corpus_manifest()["standard_content"]
    return next(f for f in corpus_faces() if f.id == wanted)


def font_folders() -> list[Path]:
    """Standard font folders of this platform."""
    home = Path.home()
    if sys.platform == "darwin":
        return [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library/Fonts"]
    if sys.platform.startswith("win"):
        return [Path(os.environ.get("WINDIR", "C:/Windows")) / "Fonts",
                Path(os.environ.get("LOCALAPPDATA", home)) / "Microsoft/Windows/Fonts"]
    return [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".local/share/fonts", home / ".fonts"]


def _names(path: Path, index: int) -> tuple[str, str]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as tt:
        name = tt["name"]
        family = name.getBestFamilyName() or path.stem
        style = name.getBestSubFamilyName() or ""
    return family, style


def _faces_in_file(path: Path) -> list[Face]:
    from fontTools.ttLib import TTCollection

    if path.suffix.lower() in (".ttc", ".otc"):
        try:
            count = len(TTCollection(path, lazy=True).fonts)
        except Exception:
            return []
    else:
        count = 1
    faces = []
    for i in range(count):
        try:
            family, style = _names(path, i)
        except Exception:
            continue
        faces.append(Face(path, i, family, style))
    return faces


def discover_fonts() -> list[Face]:
    """Every installed font face (fontconfig when present, else the standard folders), corpus ids attached."""
    by_key = {(str(f.path), f.index): f for f in corpus_faces()}
    faces: list[Face] = []
    if shutil.which("fc-list"):
        out = subprocess.run(["fc-list", "--format", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\n"],
                             capture_output=True, text=True, check=False).stdout
        for line in sorted(set(out.splitlines())):
            parts = line.split("\t")
            if len(parts) != 4 or not parts[0].lower().endswith(FONT_SUFFIXES):
                continue
            faces.append(Face(Path(parts[0]), int(parts[1] or 0), parts[2], parts[3]))
    else:
        for folder in font_folders():
            if folder.is_dir():
                for p in sorted(folder.rglob("*")):
                    if p.suffix.lower() in FONT_SUFFIXES:
                        faces.extend(_faces_in_file(p))
    out_faces, seen = [], set()
    for f in faces:
        real = (str(f.path.resolve()), f.index)  # Debian links some fonts under a second name
        if real in seen:
            continue
        seen.add(real)
        known = by_key.get((str(f.path), f.index)) or by_key.get(real)
        out_faces.append(known if known else f)
    return out_faces


def parse_font_specs(specs: str | list[str]) -> list[Face]:
    """Resolve ``--fonts``: ``corpus``, corpus ids, ``PATH[:FACE]`` or installed family names, comma separated.

    :raises GlyphError: for a missing file, a bad face index, or an unknown name (with a did-you-mean).
    """
    items = [s.strip() for s in (specs.split(",") if isinstance(specs, str) else specs) if s.strip()]
    corpus = {f.id: f for f in corpus_faces()}
    faces: list[Face] = []
    for item in items:
        if item == "corpus":
            missing = [f for f in corpus.values() if not f.path.exists()]
            if len(missing) == len(corpus):
                raise GlyphError("none of the corpus fonts is installed; run `bash .ci/setup` (it installs them with "
                                 "apt) or give font files with --fonts PATH[:FACE]")
            faces.extend(f for f in corpus.values() if f.path.exists())
            continue
        if item in corpus:
            face = corpus[item]
            if not face.path.exists():
                raise GlyphError(f"corpus font '{item}' is not installed ({face.path}); install the Debian package "
                                 f"{corpus_manifest_package(item)} or run `bash .ci/setup`")
            faces.append(face)
            continue
        path_text, _, index_text = item.rpartition(":") if item.rpartition(":")[2].isdigit() else (item, "", "0")
        path = Path(path_text).expanduser()
        if path.suffix.lower() in FONT_SUFFIXES or path.exists():
            if not path.is_file():
                raise GlyphError(f"font file {path} does not exist")
            available = _faces_in_file(path)
            if not available:
                raise GlyphError(f"{path} is not a font file glyph can read (TrueType/OpenType .ttf .otf .ttc)")
            idx = int(index_text)
            if idx >= len(available):
                raise GlyphError(f"{path} has {len(available)} face(s) (0..{len(available) - 1}); got face {idx}")
            faces.append(known_face(available[idx]))
            continue
        matches = [f for f in discover_fonts() if f.family.lower() == item.lower()]
        if not matches:
            names = sorted({f.family for f in discover_fonts()} | set(corpus))
            raise GlyphError(f"no font '{item}'{did_you_mean(item, names)}; see `glyph data fonts` for installed fonts")
        faces.extend(matches)
    return faces


def corpus_manifest_package(face_id: str) -> str:
    """The Debian package of a corpus face."""
    return next(f["package"] for f in corpus_manifest()["face"] if f["id"] == face_id)


def known_face(face: Face) -> Face:
    """The corpus entry for ``face`` when it is a corpus face (so it carries its id and kind)."""
    for f in corpus_faces():
        if f.path == face.path and f.index == face.index:
            return f
    return face


@lru_cache(maxsize=64)
def cmap(path: Path, index: int) -> frozenset[int]:
    """Codepoints the face maps to a real glyph (not ``.notdef``)."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=index, lazy=True) as tt:
            best = tt.getBestCmap() or {}
    except Exception as e:
        raise GlyphError(f"cannot read the character map of {path}:{index} ({e})") from None
    return frozenset(cp for cp, name in best.items() if name != ".notdef")


def file_fingerprint(path: Path) -> str:
    """sha256 of a font file (first 16 hex digits), recorded in dataset metadata."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
