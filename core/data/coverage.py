"""Which characters of a charset a face really draws (cmap and rendered ink), cached per font file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..imageio import atomic_output
from .charsets import load_charset
from .fonts import Face, cache_dir, face_cmap
from .render import RenderSpec, render_faces

PROBE = RenderSpec(size=24, margin=0.0)  # small: the ink and tofu checks do not need detail
CHARSETS = ("gb2312-1", "gb2312", "jis-1")
BATCH = 16  # faces rendered between two saves of the cache


def cache_file() -> Path:
    """Where coverage results are cached (``$XDG_CACHE_HOME/glyph`` or ``~/.cache/glyph``)."""
    return cache_dir() / "coverage-v1.json"


def _key(face: Face) -> str:
    if face.parts:  # a split face: its id, and the count, total size and newest time of its files
        stats = [p.stat() for p in face.parts]
        return (f"{face.spec}:{len(stats)}:{sum(st.st_size for st in stats)}:"
                f"{max(int(st.st_mtime) for st in stats)}")
    st = face.path.stat()
    return f"{face.path}:{face.index}:{st.st_size}:{int(st.st_mtime)}"


def coverage(faces: list[Face], charsets: tuple[str, ...] = CHARSETS) -> dict[str, dict[str, int]]:
    """``{face.spec: {charset: usable count, "cmap:"+charset: cmap count}}``; renders only what the cache lacks."""
    try:
        cache = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        cache = {}
    result: dict[str, dict[str, int]] = {}
    todo: list[Face] = []
    for face in faces:
        entry = cache.get(_key(face))
        if entry and all(cs in entry for cs in charsets):
            result[face.spec] = entry
        else:
            todo.append(face)
    if todo:
        sets = {cs: load_charset(cs).chars for cs in charsets}
        union = sorted({c for chars in sets.values() for c in chars})
        probe = [ord(c) for c in union[:: max(1, len(union) // 300)]]
        # In batches, saving after each: a first run over a hundred faces takes minutes, and a stopped one
        # keeps what it did.
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            cjk = [f for f in batch if not face_cmap(f).isdisjoint(probe)]
            renders = {r.face.spec: set(r.chars) for r in render_faces(cjk, union, PROBE)} if cjk else {}
            for face in batch:
                ok = renders.get(face.spec, set())
                mapped = face_cmap(face)
                entry = {cs: sum(c in ok for c in chars) for cs, chars in sets.items()}
                entry.update({f"cmap:{cs}": sum(ord(c) in mapped for c in chars) for cs, chars in sets.items()})
                cache[_key(face)] = result[face.spec] = entry
            try:
                with atomic_output(cache_file()) as tmp:
                    tmp.write_text(json.dumps(cache))
            except OSError:
                pass  # a read-only home only costs the cache
    return result


def coverage_rows(faces: list[Face], cjk_only: bool = False) -> list[dict[str, Any]]:
    """One JSON-ready row per face for ``glyph data fonts``: its names, file, corpus entry, the usable count of each
    of :data:`CHARSETS`, and ``dropped_by_ink_check`` (per charset: in the cmap but blank or tofu when rendered).

    :param cjk_only: leave out faces with no usable character of any of :data:`CHARSETS`.
    """
    cov = coverage(faces)
    rows = []
    for f in faces:
        c = cov[f.spec]
        if cjk_only and not any(c[cs] for cs in CHARSETS):
            continue
        rows.append({"face": f.label, "family": f.family, "style": f.style, "file": str(f.path), "index": f.index,
                     "corpus": bool(f.id), "kind": f.kind, "source": f.source, "extra": f.extra,
                     "files": len(f.files), **{cs: c[cs] for cs in CHARSETS},
                     "dropped_by_ink_check": {cs: c[f"cmap:{cs}"] - c[cs] for cs in CHARSETS}})
    return rows
