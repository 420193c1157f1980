"""Rendering characters from font faces into glyph images, on all cores.

Each glyph is drawn anti-aliased by FreeType (through Pillow), checked (cmap, ink, tofu; see
fonts.py), cropped to its ink and fitted into a square canvas with a margin:

- ``fit="box"`` (default) scales the ink box so its long side fills the canvas less the margins,
  the same normalisation real references get (crop to ink, pad square, resize), so fonts and
  photos of handwriting look alike to a model;
- ``fit="em"`` keeps the size relative to the em square (a short 一 stays short) and only shrinks
  glyphs that overflow.

Output follows the toolkit's ink convention: uint8, 255 = ink, 0 = paper.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..dataset import GlyphData
from ..errors import GlyphError
from ..threads import cpu_budget
from .charsets import Charset
from .fonts import NOTDEF_PROBES, Face, cmap, part_map

Fit = Literal["box", "em"]
# Fewer glyphs than this are rendered in-process: a process pool costs more than it saves.
PARALLEL_MIN = 512
CHUNK = 256


@dataclass(frozen=True)
class RenderSpec:
    """How glyphs are drawn: canvas size in pixels, margin as a fraction of it, and the fit."""

    size: int = 64
    margin: float = 0.06
    fit: Fit = "box"

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"render size must be at least 8 px, got {self.size}")
        if not 0 <= self.margin < 0.4:
            raise ValueError(f"margin must be in [0, 0.4), got {self.margin}")

    @property
    def inner(self) -> int:
        """Pixels available to the glyph inside the margins."""
        return max(1, round(self.size * (1 - 2 * self.margin)))

    @property
    def font_size(self) -> int:
        """FreeType pixel size: larger than the target for box fit, so glyphs are only ever shrunk."""
        return round(self.inner * 1.25) if self.fit == "box" else self.inner


def make_spec(size: int = 64, margin: float = 0.06, fit: Fit = "box") -> RenderSpec:
    """A :class:`RenderSpec` whose bad values raise a one-line :class:`GlyphError` (for users) not ValueError."""
    try:
        return RenderSpec(size=size, margin=margin, fit=fit)
    except ValueError as e:
        raise GlyphError(str(e)) from None


@dataclass
class FaceRender:
    """The glyphs one face drew, and the characters it did not, by reason."""

    face: Face
    images: np.ndarray  # [n, size, size] uint8, 255 = ink
    chars: list[str]
    dropped: dict[str, list[str]] = field(default_factory=dict)


# Room for every subset file of a face split into ~100-250 files (Fontsource), so a chunk never reopens one.
@lru_cache(maxsize=256)
def _font(path: str, index: int, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, px, index=index)


def _draw(font: ImageFont.FreeTypeFont, ch: str, px: int) -> Image.Image:
    canvas = Image.new("L", (2 * px, 2 * px), 0)
    ImageDraw.Draw(canvas).text((px, px), ch, font=font, fill=255, anchor="mm")
    return canvas


@lru_cache(maxsize=256)
def _tofu(path: str, index: int, px: int) -> frozenset[bytes]:
    font = _font(path, index, px)
    return frozenset(hashlib.blake2b(_draw(font, p, px).tobytes(), digest_size=16).digest() for p in NOTDEF_PROBES)


def _fit(glyph: Image.Image, spec: RenderSpec) -> np.ndarray:
    w, h = glyph.size
    scale = spec.inner / max(w, h)
    if spec.fit == "em":
        scale = min(scale, spec.inner / spec.font_size)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if (nw, nh) != (w, h):
        glyph = glyph.resize((nw, nh), Image.Resampling.LANCZOS)
    out = Image.new("L", (spec.size, spec.size), 0)
    out.paste(glyph, ((spec.size - nw) // 2, (spec.size - nh) // 2))
    return np.asarray(out)


def _render_chunk(face: Face, chars: list[str], spec: RenderSpec) -> tuple[np.ndarray, list[str], dict]:
    px = spec.font_size
    # Each character is drawn from the file that maps it, and checked against that file's own .notdef.
    if face.parts:
        part = part_map(face.parts, face.index).part
        where = {ch: str(face.parts[part[ord(ch)]]) for ch in chars if ord(ch) in part}
    else:
        mapped = cmap(face.path, face.index)
        where = {ch: str(face.path) for ch in chars if ord(ch) in mapped}
    images, kept, dropped = [], [], {"missing": [], "blank": [], "tofu": [], "broken": []}
    for ch in chars:
        path = where.get(ch)
        if path is None:
            dropped["missing"].append(ch)
            continue
        try:
            canvas = _draw(_font(path, face.index, px), ch, px)
        except OSError:  # FreeType refuses the glyph (e.g. "invalid opcode" in its hinting program)
            dropped["broken"].append(ch)
            continue
        box = canvas.point(lambda v: 255 if v >= 32 else 0).getbbox()  # ignore faint hinting dust
        if box is None:
            dropped["blank"].append(ch)
            continue
        if hashlib.blake2b(canvas.tobytes(), digest_size=16).digest() in _tofu(path, face.index, px):
            dropped["tofu"].append(ch)
            continue
        images.append(_fit(canvas.crop(canvas.getbbox()), spec))
        kept.append(ch)
    arr = np.stack(images) if images else np.zeros((0, spec.size, spec.size), np.uint8)
    return arr, kept, {k: v for k, v in dropped.items() if v}


def render_faces(faces: list[Face], chars: list[str], spec: RenderSpec | None = None,
                 workers: int | None = None, progress: Callable[[int, int], None] | None = None
                 ) -> list[FaceRender]:
    """Render ``chars`` with every face, in parallel across processes for large jobs.

    Characters a face lacks, draws blank, draws as tofu or cannot draw (broken) are dropped (and listed) for that
    face only. ``progress(done, total)`` counts glyphs as chunks finish.
    """
    spec = spec or RenderSpec()
    for face in faces:
        if face.parts:
            part_map(face.parts, face.index)  # read the subset cmaps once here: forked workers inherit them
    jobs = [(fi, chars[i:i + CHUNK]) for fi in range(len(faces)) for i in range(0, len(chars), CHUNK)]
    workers = workers or cpu_budget()  # never more processes than the CPUs glyph may use (glyph.threads)
    total, done = len(faces) * len(chars), 0

    def finished(part: list[str]) -> None:
        nonlocal done
        done += len(part)
        if progress is not None:
            progress(done, total)

    if total < PARALLEL_MIN or workers == 1:
        results = []
        for fi, part in jobs:
            results.append(_render_chunk(faces[fi], part, spec))
            finished(part)
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_render_chunk, faces[fi], part, spec) for fi, part in jobs]
            sizes = {f: len(part) for f, (_, part) in zip(futures, jobs, strict=True)}
            for f in as_completed(futures):
                done += sizes[f]
                if progress is not None:
                    progress(done, total)
            results = [f.result() for f in futures]
    out: list[FaceRender] = []
    for fi, face in enumerate(faces):
        parts = [r for (f, _), r in zip(jobs, results, strict=True) if f == fi]
        images = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, spec.size, spec.size), np.uint8)
        kept = [c for p in parts for c in p[1]]
        dropped: dict[str, list[str]] = {}
        for p in parts:
            for reason, cs in p[2].items():
                dropped.setdefault(reason, []).extend(cs)
        out.append(FaceRender(face, images, kept, dropped))
    return out


def render_dataset(faces: list[Face], charset: Charset, spec: RenderSpec | None = None,
                   workers: int | None = None, progress: Callable[[int, int], None] | None = None
                   ) -> tuple[GlyphData, list[FaceRender]]:
    """Render ``charset`` with ``faces`` (one writer per face) into a GlyphData, and the per-face results.

    Labels: ``char`` (class index in ``charset``) and ``writer`` (the face). Metadata records the
    charset, the faces with their file hashes, and the render settings, so the data is reproducible.
    """
    import torch

    from . import INK_GLYPH
    from .fonts import face_fingerprint, unreadable_files

    spec = spec or RenderSpec()
    results = render_faces(faces, charset.chars, spec, workers, progress)
    labels = [r.face.label for r in results]
    if len(set(labels)) != len(labels):
        raise GlyphError("two of the given faces have the same name; give each font once")
    images = [torch.from_numpy(r.images) for r in results if len(r.chars)]
    if not images:
        raise GlyphError(f"none of the {len(faces)} face(s) draws any character of charset '{charset.name}'")
    chars = torch.tensor([charset.index[c] for r in results for c in r.chars], dtype=torch.int64)
    writers = torch.tensor([i for i, r in enumerate(results) for _ in r.chars], dtype=torch.int64)
    meta = {
        "ink": INK_GLYPH,
        "source": "fonts",
        "charset": charset.name,
        "render": {"size": spec.size, "margin": spec.margin, "fit": spec.fit},
        "fonts": [{"label": r.face.label, "family": r.face.family, "style": r.face.style, "kind": r.face.kind,
                   "file": r.face.path.name, "index": r.face.index, "sha256": face_fingerprint(r.face),
                   "glyphs": len(r.chars), "dropped": {k: len(v) for k, v in r.dropped.items()},
                   **({"files": len(r.face.parts), "unreadable": [p.name for p, _ in unreadable_files(r.face)]}
                      if r.face.parts else {})}
                  for r in results],
    }
    data = GlyphData(torch.cat(images).unsqueeze(1), {"char": chars, "writer": writers},
                     {"char": list(charset.chars), "writer": labels}, meta)
    return data, results


@dataclass
class RenderedSet:
    """What :func:`render_and_save` drew and where it wrote it."""

    data: GlyphData  # with its unseen splits in ``meta["splits"]``
    faces: list[FaceRender]  # per face: the characters drawn and those dropped, by reason
    seconds: float  # time spent drawing (not splitting or saving)
    out: Path


def render_and_save(out: str | Path, fonts: str | list[str] = "corpus", charset: str = "gb2312-1", size: int = 64,
                    margin: float = 0.06, fit: Fit = "box", layout: str | None = None, unseen_chars: float = 0.1,
                    unseen_writers: float = 0.0, split_seed: int = 0, workers: int | None = None,
                    progress: Callable[[int, int], None] | None = None, hold_out: Sequence[str] = ()
                    ) -> RenderedSet:
    """Render a charset with fonts into a dataset at ``out`` (one writer per face): ``glyph data render``.

    :param out: a new ``.safetensors(.gz)`` file or a new or empty folder (``layout``, default ``writers``).
    :param fonts: ``corpus``, corpus ids, ``PATH[:FACE]`` or family names (see :func:`parse_font_specs`).
    :param charset: a charset name, a text file or the characters (see :func:`glyph.data.charsets.load_charset`).
    :param unseen_chars: share of characters held out as unseen (recorded in the metadata).
    :param unseen_writers: share of faces held out as unseen; never corpus.toml's ``standard_content`` face,
        since few-shot evaluation needs the templates of the held-out writers' characters.
    :param progress: called as ``progress(done, total)`` with glyph counts while drawing.
    :param hold_out: faces always held out as unseen writers besides the share: corpus ids, or ``kind:KIND``
        (``kind:pen``, ``kind:brush``: every face of that kind of script).
    :raises GlyphError: on a bad ``out``, size, margin, font, charset or hold-out name, all checked before drawing.
    """
    from .charsets import load_charset
    from .fonts import parse_font_specs, standard_content_face
    from .loader import make_splits
    from .sources import check_dataset_output, save_dataset

    check_dataset_output(out)
    spec = make_spec(size, margin, fit)
    faces = parse_font_specs(fonts)
    cs = load_charset(charset)
    labels, kinds = {f.label for f in faces}, {f.kind for f in faces if f.kind}
    for item in (h.strip() for h in hold_out if h.strip()):  # before drawing: a typo must not cost the render
        if (item[5:] not in kinds) if item.startswith("kind:") else (item not in labels):
            raise GlyphError(f"--hold-out {item}: none of the faces to render is "
                             f"{'of that kind' if item.startswith('kind:') else 'named so'}; give corpus ids of "
                             f"them or kind:KIND (kinds here: {', '.join(sorted(kinds)) or 'none'})")
    t = time.perf_counter()
    data, results = render_dataset(faces, cs, spec, workers, progress)
    seconds = time.perf_counter() - t
    make_splits(data, unseen_writers=unseen_writers, unseen_chars=unseen_chars, seed=split_seed,
                keep=(standard_content_face().id,), hold=hold_out)
    return RenderedSet(data, results, seconds, save_dataset(data, out, layout))
