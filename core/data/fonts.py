"""Finding CJK fonts and deciding which characters a face really draws.

A face is a file plus a face index (``.ttc`` collections hold several). Coverage is decided by the
cmap *and* by rendering: a character the cmap lacks, one mapped to ``.notdef``, one that renders no
ink, and one that renders exactly like the face's ``.notdef`` box (tofu) never enter a dataset.
Fonts are found through fontconfig when present, otherwise in the standard font folders of Linux,
macOS and Windows. The corpus also holds opt-in faces (``bash .ci/setup --corpus-extra``): more Debian
packages, and Fontsource npm packages whose faces are split into unicode-range subset files, one face
drawn from many files (each character from the file whose cmap has it).
"""

from __future__ import annotations

import fnmatch
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
    """One font face: a file and its index in a collection, with names for people.

    A face split into subset files (Fontsource's npm packages) has them in ``parts`` and their folder as
    ``path``; ``source`` is a corpus face's Debian or npm package, ``extra`` marks the opt-in ones.
    """

    path: Path
    index: int = 0
    family: str = ""
    style: str = ""
    id: str = ""
    kind: str = ""
    source: str = ""
    extra: bool = False
    parts: tuple[Path, ...] = ()

    @property
    def label(self) -> str:
        """A short unique name: the corpus id, else ``family style``, else the file name."""
        return self.id or " ".join(x for x in (self.family, self.style) if x) or self.path.name

    @property
    def spec(self) -> str:
        """``PATH:INDEX``, the form ``--font`` accepts (the corpus id for a face split into many files)."""
        return self.id if self.parts else f"{self.path}:{self.index}"

    @property
    def files(self) -> tuple[Path, ...]:
        """The font files that draw this face."""
        return self.parts or (self.path,)

    @property
    def installed(self) -> bool:
        """Whether every file of the face is on this machine (a split face with no parts found is not)."""
        return all(p.is_file() for p in self.files)


def cache_dir() -> Path:
    """glyph's cache folder, ``$XDG_CACHE_HOME/glyph`` or ``~/.cache/glyph`` (coverage, npm font packages)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "glyph"


def npm_folder(package: str) -> Path:
    """Where ``bash .ci/setup --corpus-extra`` unpacks an npm package: ``<cache>/npm/@scope+name``."""
    return cache_dir() / "npm" / package.replace("/", "+")


EXTRA_SETUP = "bash .ci/setup --corpus-extra"  # the command that fetches the opt-in faces


def setup_command(face: Face) -> str:
    """The set-up command that installs a corpus face."""
    return EXTRA_SETUP if face.extra else "bash .ci/setup"


def corpus_faces() -> list[Face]:
    """The whole training corpus (core/data/corpus.toml), default and opt-in faces, installed or not."""
    return list(_corpus_faces(cache_dir()))


@lru_cache(maxsize=4)
def _corpus_faces(cache: Path) -> tuple[Face, ...]:
    # Cached per cache folder: listing the subset files of 70 split faces costs a good part of a second.
    faces = []
    listings: dict[Path, list[str]] = {}
    for f in corpus_manifest()["face"]:
        if "npm" in f:
            # Fontsource subsets: a numbered file per unicode range; a missing folder finds no parts.
            folder = npm_folder(f["npm"])
            sub = folder / Path(f["files"]).parent
            if sub not in listings:
                listings[sub] = sorted(os.listdir(sub)) if sub.is_dir() else []
            names = fnmatch.filter(listings[sub], Path(f["files"]).name)
            path, parts, source = folder, tuple(sub / n for n in names), f["npm"]
        else:
            path, parts, source = Path(f["file"]), (), f["package"]
        faces.append(Face(path, int(f.get("index", 0)), f["family"], f["style"], f["id"], f["kind"], source,
                          bool(f.get("extra", False)), parts))
    return tuple(faces)


@dataclass(frozen=True)
class Source:
    """A package that brings corpus faces: Debian (apt) or npm (Fontsource), default or opt-in."""

    name: str
    kind: str  # "debian" or "npm"
    extra: bool
    faces: tuple[Face, ...]

    @property
    def installed(self) -> int:
        """How many of its faces are installed."""
        return sum(f.installed for f in self.faces)


def corpus_sources() -> list[Source]:
    """Every package of the corpus with its faces, in corpus.toml's order."""
    kinds = {f.get("npm") or f["package"]: "npm" if "npm" in f else "debian" for f in corpus_manifest()["face"]}
    by_name: dict[str, list[Face]] = {}
    for face in corpus_faces():
        by_name.setdefault(face.source, []).append(face)
    return [Source(name, kinds[name], any(f.extra for f in fs), tuple(fs)) for name, fs in by_name.items()]


def missing_sources() -> dict[str, list[str]]:
    """The corpus sources with faces not installed, by the set-up command that brings them:
    ``{"bash .ci/setup --corpus-extra": ["@fontsource/ma-shan-zheng", ...]}``, in corpus.toml's order."""
    missing: dict[str, list[str]] = {}
    for s in corpus_sources():
        if s.installed < len(s.faces):
            missing.setdefault(setup_command(s.faces[0]), []).append(s.name)
    return missing


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
    # Faces split into subset files live in glyph's cache, out of fontconfig's sight.
    out_faces.extend(f for f in corpus_faces() if f.parts and f.installed)
    return out_faces


def parse_font_specs(specs: str | list[str]) -> list[Face]:
    """Resolve ``--fonts``: ``corpus``, ``corpus-all``, corpus ids, ``PATH[:FACE]`` or installed family names.

    ``corpus`` is the default corpus (what ``bash .ci/setup`` installs), ``corpus-all`` adds the opt-in
    faces that are installed (``bash .ci/setup --corpus-extra``). Items are comma separated.

    :raises GlyphError: for a missing file, a bad face index, or an unknown name (with a did-you-mean).
    """
    items = [s.strip() for s in (specs.split(",") if isinstance(specs, str) else specs) if s.strip()]
    corpus = {f.id: f for f in corpus_faces()}
    faces: list[Face] = []
    for item in items:
        if item in ("corpus", "corpus-all"):
            wanted = [f for f in corpus.values() if item == "corpus-all" or not f.extra]
            present = [f for f in wanted if f.installed]
            if not present:
                raise GlyphError("none of the corpus fonts is installed; run `bash .ci/setup` (it installs them with "
                                 "apt) or give font files with --fonts PATH[:FACE]")
            faces.extend(present)
            continue
        if item in corpus:
            face = corpus[item]
            if not face.installed:
                raise GlyphError(f"corpus font '{item}' is not installed ({face.path}); it comes with the package "
                                 f"{face.source}: run `{setup_command(face)}`")
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


def known_face(face: Face) -> Face:
    """The corpus entry for ``face`` when it is a corpus face (so it carries its id and kind)."""
    for f in corpus_faces():
        if f.path == face.path and f.index == face.index:
            return f
    return face


@lru_cache(maxsize=64)
def cmap(path: Path, index: int) -> frozenset[int]:
    """Codepoints the face maps to a real glyph (not ``.notdef``)."""
    try:
        return _read_cmap(path, index)
    except Exception as e:
        raise GlyphError(f"cannot read the character map of {path}:{index} ({e})") from None


def _read_cmap(path: Path, index: int) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=index, lazy=True) as tt:
        best = tt.getBestCmap() or {}
    return frozenset(cp for cp, name in best.items() if name != ".notdef")


@dataclass(frozen=True)
class PartMap:
    """Which file of a split face draws each codepoint, and the files that could not be read."""

    part: dict[int, int]  # codepoint -> position in Face.parts (the first file that maps it)
    mapped: frozenset[int]  # its keys
    unreadable: tuple[tuple[Path, str], ...]  # (file, why), left out: their characters count as missing


@lru_cache(maxsize=16)
def part_map(parts: tuple[Path, ...], index: int) -> PartMap:
    """Read every subset file's cmap once; a file fontTools or Pillow cannot open is left out, not fatal."""
    from PIL import ImageFont

    lookup: dict[int, int] = {}
    bad = []
    for i, p in enumerate(parts):
        try:
            mapped = _read_cmap(p, index)
            ImageFont.truetype(str(p), 16, index=index)  # FreeType must open it too, or rendering would fail
        except Exception as e:
            bad.append((p, f"{type(e).__name__}: {e}".strip().rstrip(":")))
            continue
        for cp in mapped:
            lookup.setdefault(cp, i)
    return PartMap(lookup, frozenset(lookup), tuple(bad))


def face_cmap(face: Face) -> frozenset[int]:
    """Codepoints the face maps to a real glyph, over all its files."""
    if face.parts:
        return part_map(face.parts, face.index).mapped
    return cmap(face.path, face.index)


def unreadable_files(face: Face) -> tuple[tuple[Path, str], ...]:
    """The subset files of a split face that cannot be read, with why (empty for single-file faces)."""
    return part_map(face.parts, face.index).unreadable if face.parts else ()


def file_fingerprint(path: Path) -> str:
    """sha256 of a font file (first 16 hex digits), recorded in dataset metadata."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def face_fingerprint(face: Face) -> str:
    """:func:`file_fingerprint` of a face's file, or of the list of its subset files' fingerprints."""
    if not face.parts:
        return file_fingerprint(face.path)
    return hashlib.sha256(" ".join(file_fingerprint(p) for p in face.parts).encode()).hexdigest()[:16]
