"""Stroke data: the centre lines of every stroke of a character, in writing order.

The source is ``hanzi-writer-data`` (npm), Make Me a Hanzi's stroke outlines and stroke medians for
9,500+ characters under the Arphic Public License. Each character is one ``<char>.json`` holding
``strokes`` (SVG outlines) and ``medians`` (each stroke's centre polyline), both in a 1024-unit box
with the y axis pointing up and the baseline offset so that image ``y = 900 - y``. glyph draws from
the medians only; the outlines are the reference font's shapes, which a writer should not inherit.

The data is fetched by the opt-in set-up step (``bash .ci/setup --corpus-extra``) into glyph's cache
folder, never at run time. Here it is read, converted to image coordinates in the unit square, and
prepared for drawing: corners rounded, resampled at even arc length, each stroke given a kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import GlyphError
from .fonts import EXTRA_SETUP, npm_folder

PACKAGE = "hanzi-writer-data"  # its pinned version: corpus.toml's [npm] table
# Stroke kinds, from the chord of the centre line (image axes: x right, y down).
DOT, HORIZONTAL, VERTICAL, LEFT_FALLING, RIGHT_FALLING, RISING = range(6)
KIND_NAMES = ("dot", "horizontal", "vertical", "left-falling", "right-falling", "rising")


def strokes_dir(path: str | Path | None = None) -> Path:
    """The stroke data folder: ``path``, else the set-up step's copy in glyph's cache; a teaching error when
    it is missing."""
    folder = Path(path).expanduser() if path else npm_folder(PACKAGE)
    if not folder.is_dir() or not any(folder.glob("*.json")):
        raise GlyphError(f"no stroke data ({PACKAGE}) in {folder}; `{EXTRA_SETUP}` fetches it, or pass --strokes PATH")
    return folder


def package_version(folder: Path) -> str:
    """The npm package version recorded in ``package.json`` ('unknown' for a bare folder of JSON files)."""
    try:
        return str(json.loads((folder / "package.json").read_text("utf-8")).get("version", "unknown"))
    except (OSError, ValueError):
        return "unknown"


def read_medians(folder: Path, ch: str) -> list[np.ndarray] | None:
    """The stroke medians of ``ch`` as float arrays ``[k, 2]`` in the unit square, image axes; None if absent."""
    file = folder / f"{ch}.json"
    if len(ch) != 1 or not file.is_file():
        return None
    try:
        medians = json.loads(file.read_text("utf-8"))["medians"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(medians, list):
        return None  # a damaged file: treated as absent (the character is left out, not drawn wrong)
    out = []
    for m in medians:
        try:
            a = np.asarray(m, dtype=np.float64).reshape(-1, 2)
        except (ValueError, TypeError):
            return None
        if not np.isfinite(a).all():
            return None
        if len(a) == 0:
            continue
        a = np.column_stack([a[:, 0], 900.0 - a[:, 1]]) / 1024.0
        out.append(a if len(a) > 1 else np.vstack([a, a + 1e-3]))  # a one-point dot gets a length
    return out or None


def _chaikin(a: np.ndarray, rounds: int) -> np.ndarray:
    """Corner cutting (Chaikin 1974): each round replaces every inner corner by two points at 1/4 and 3/4."""
    for _ in range(rounds):
        if len(a) < 3:
            break
        q = 0.75 * a[:-1] + 0.25 * a[1:]
        r = 0.25 * a[:-1] + 0.75 * a[1:]
        mid = np.empty((2 * (len(a) - 1), 2))
        mid[0::2], mid[1::2] = q, r
        a = np.vstack([a[:1], mid[1:-1], a[-1:]])
    return a


def _resample(a: np.ndarray, n: int) -> np.ndarray:
    """``n`` points at even arc length along polyline ``a``, ends kept."""
    seg = np.hypot(*np.diff(a, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n)
    return np.column_stack([np.interp(t, s, a[:, 0]), np.interp(t, s, a[:, 1])])


def _kind(a: np.ndarray, length: float) -> int:
    dx, dy = a[-1] - a[0]
    if length < 0.12:
        return DOT
    if dy < 0 and dx > 0 and -dy > 0.25 * dx:
        return RISING
    if abs(dy) < 0.45 * abs(dx):
        return HORIZONTAL
    if abs(dx) < 0.35 * abs(dy):
        return VERTICAL
    return LEFT_FALLING if dx < 0 else RIGHT_FALLING


@dataclass(frozen=True)
class Skeleton:
    """One character's strokes ready to draw: all points of all strokes concatenated.

    ``points [M, 2]`` in the unit square (image axes), ``stroke [M]`` the stroke of each point, ``t [M]``
    the position along its stroke in [0, 1]; ``starts [S + 1]`` the offsets of the strokes, ``kinds [S]``
    and ``lengths [S]`` per stroke.
    """

    points: np.ndarray
    stroke: np.ndarray
    t: np.ndarray
    starts: np.ndarray
    kinds: np.ndarray
    lengths: np.ndarray


def skeleton(medians: list[np.ndarray], rounds: int, step: float) -> Skeleton:
    """Prepare ``medians``: ``rounds`` of corner rounding (a running hand rounds more), then points about
    every ``step`` (units of the box) along each stroke. The number of points depends on ``step`` only,
    so skeletons of one character with different rounding line up point for point."""
    lengths = np.array([np.hypot(*np.diff(m, axis=0).T).sum() for m in medians])
    counts = np.maximum(4, np.ceil(lengths / step).astype(int) + 1)
    parts = [_resample(_chaikin(m, rounds), n) for m, n in zip(medians, counts, strict=True)]
    return Skeleton(
        points=np.concatenate(parts),
        stroke=np.repeat(np.arange(len(parts)), counts),
        t=np.concatenate([np.linspace(0.0, 1.0, c) for c in counts]),
        starts=np.concatenate([[0], np.cumsum(counts)]),
        kinds=np.array([_kind(m, ln) for m, ln in zip(medians, lengths, strict=True)]),
        lengths=lengths,
    )


class StrokeData:
    """Lazy, cached access to one hanzi-writer-data folder (safe to share with forked workers)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.folder = strokes_dir(path)
        self.version = package_version(self.folder)

    def medians(self, ch: str) -> list[np.ndarray] | None:
        """The medians of ``ch``, or None when the data lacks it."""
        return _medians_cached(str(self.folder), ch)

    def skeleton(self, ch: str, rounds: int, step: float) -> Skeleton | None:
        """The prepared skeleton of ``ch`` (``rounds`` of corner rounding, a point every ``step``), or None."""
        return _skeleton_cached(str(self.folder), ch, rounds, step)

    def split(self, chars: list[str]) -> tuple[list[str], list[str]]:
        """``chars`` split into those with stroke data and those without, each in the given order."""
        have = [c for c in chars if self.medians(c) is not None]
        known = set(have)
        return have, [c for c in chars if c not in known]


@lru_cache(maxsize=16384)
def _medians_cached(folder: str, ch: str) -> list[np.ndarray] | None:
    return read_medians(Path(folder), ch)


@lru_cache(maxsize=16384)
def _skeleton_cached(folder: str, ch: str, rounds: int, step: float) -> Skeleton | None:
    m = _medians_cached(folder, ch)
    return None if m is None else skeleton(m, rounds, step)
