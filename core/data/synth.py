"""Procedural pen writers as a dataset: ``glyph data synth``.

Draws a charset by N synthetic writers (pen.py: a seeded pen and hand each) from hanzi-writer-data's
stroke centre lines (strokes.py), on all cores, into a :class:`GlyphData` labelled by character and
writer, like render.py does for font faces. Characters the stroke data lacks are skipped and returned.
Every glyph is reproducible from ``(seed, writer, character)`` alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..dataset import GlyphData
from ..errors import GlyphError
from ..threads import cpu_budget
from .charsets import Charset
from .pen import Writer, draw_batch, glyph_keys, point_step, sample_writer
from .render import RenderSpec, make_spec
from .strokes import PACKAGE, StrokeData

VERSION = 1  # bump when the drawing changes, so packs record which generator made them
CHUNK = 64  # characters per job
WRITER_BLOCK = 64  # writers per job: one character's geometry is computed for all of them at once


def draw_block(data: StrokeData, seed: int, writers: list[int], chars: list[str], spec: RenderSpec,
               hands: list[Writer] | None = None) -> np.ndarray:
    """Writers ``writers`` (indices of ``seed``) drawing ``chars``: uint8 ``[W, C, size, size]``.

    A character the data lacks stays blank. ``hands`` overrides the writers drawn from the indices (the
    indices still seed the glyphs), so a trainer can draw fresh writers on the fly.
    """
    hands = hands or [sample_writer(seed, i) for i in writers]
    out = np.zeros((len(writers), len(chars), spec.size, spec.size), np.uint8)
    step = point_step(spec)
    rounds = sorted({w.rounds for w in hands})
    for ci, ch in enumerate(chars):
        skeletons = {r: data.skeleton(ch, r, step) for r in rounds}
        if all(sk is not None for sk in skeletons.values()):
            out[:, ci] = draw_batch(hands, skeletons, spec, glyph_keys(seed, writers, ch))
    return out


_SHARED: StrokeData | None = None  # set in the parent before forking workers, read by _pool_job


def _pool_job(seed: int, writers: list[int], chars: list[str], spec: RenderSpec) -> np.ndarray:
    assert _SHARED is not None
    return draw_block(_SHARED, seed, writers, chars, spec)


def synth_dataset(n_writers: int, charset: Charset, seed: int = 0, spec: RenderSpec | None = None,
                  strokes: str | Path | None = None, workers: int | None = None, first: int = 0,
                  progress: Callable[[int, int], None] | None = None) -> tuple[GlyphData, list[str]]:
    """Draw ``charset`` by ``n_writers`` synthetic writers of ``seed`` (writers ``first`` .. ``first + n - 1``,
    so a large set can be made in shards); returns the data and the characters skipped for lack of stroke
    data. ``progress(done, total)`` is called with glyph counts as jobs finish.

    Labels: ``char`` (index in ``charset``) and ``writer`` (``synth-s<seed>-<index>``); the metadata records
    the generator version, seed, stroke data version, every writer's parameters and the skipped characters.
    """
    import torch

    from . import INK_GLYPH

    global _SHARED
    if n_writers < 1:
        raise GlyphError(f"the number of writers must be at least 1 (got {n_writers}); pass --writers N")
    if first < 0:
        raise GlyphError(f"the first writer's index must be 0 or more (got {first})")
    spec = spec or RenderSpec()
    if spec.fit != "box":
        raise GlyphError("synthetic writers are box-fitted only (fit='box')")
    data = StrokeData(strokes)
    chars, missing = data.split(charset.chars)
    if not chars:
        raise GlyphError(f"the stroke data in {data.folder} has none of the {len(charset)} characters of charset "
                         f"'{charset.name}'")
    # Jobs: blocks of characters x blocks of writers, so skeletons are prepared once per block.
    jobs = [(list(range(w0, min(first + n_writers, w0 + WRITER_BLOCK))), chars[c0:c0 + CHUNK])
            for w0 in range(first, first + n_writers, WRITER_BLOCK) for c0 in range(0, len(chars), CHUNK)]
    total, done = n_writers * len(chars), 0
    images = np.zeros((n_writers, len(chars), spec.size, spec.size), np.uint8)
    col = {c: i for i, c in enumerate(chars)}
    workers = workers or cpu_budget()  # never more processes than the CPUs glyph may use (glyph.threads)

    def place(job: tuple[list[int], list[str]], block: np.ndarray) -> None:
        nonlocal done
        ws, cs = job
        images[ws[0] - first:ws[-1] + 1 - first, col[cs[0]]:col[cs[-1]] + 1] = block
        done += block.shape[0] * block.shape[1]
        if progress:
            progress(done, total)

    if total < 512 or workers == 1 or not hasattr(os, "fork"):
        for job in jobs:
            place(job, draw_block(data, seed, job[0], job[1], spec))
    else:
        import multiprocessing as mp

        _SHARED = data  # forked workers inherit it (and its caches) instead of unpickling stroke data
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
                futures = [(job, pool.submit(_pool_job, seed, job[0], job[1], spec)) for job in jobs]
                for job, fut in futures:
                    place(job, fut.result())
        finally:
            _SHARED = None
    hands = [sample_writer(seed, i) for i in range(first, first + n_writers)]
    meta = {
        "ink": INK_GLYPH,
        "source": "synth",
        "charset": charset.name,
        "render": {"size": spec.size, "margin": spec.margin, "fit": spec.fit},
        "synth": {"generator": "glyph.data.synth", "version": VERSION, "seed": seed, "first_writer": first,
                  "strokes": {"package": PACKAGE, "version": data.version},
                  "missing": missing, "writers": [_rounded(asdict(h)) for h in hands]},
    }
    labels = {"char": torch.tensor([charset.index[c] for c in chars] * n_writers, dtype=torch.int64),
              "writer": torch.arange(n_writers, dtype=torch.int64).repeat_interleave(len(chars))}
    images_t = torch.from_numpy(images.reshape(-1, 1, spec.size, spec.size))
    return GlyphData(images_t, labels, {"char": list(charset.chars), "writer": [h.name for h in hands]}, meta), \
        missing


@dataclass
class SynthSet:
    """What :func:`synth_and_save` drew and where it wrote it."""

    data: GlyphData
    charset: Charset  # as asked for, including the characters skipped
    missing: list[str]  # characters skipped for lack of stroke data
    splits: dict[str, list[str]]  # the unseen writers and characters (also in ``data.meta["splits"]``)
    seconds: float  # time spent drawing (not splitting or saving)
    out: Path


def synth_and_save(out: str | Path, writers: int, charset: str = "gb2312-1", seed: int = 0, first_writer: int = 0,
                   size: int = 64, margin: float = 0.06, strokes: str | Path | None = None, layout: str | None = None,
                   unseen_chars: float = 0.1, unseen_writers: float = 0.1, split_seed: int = 0,
                   workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> SynthSet:
    """Draw a charset by ``writers`` procedural pen writers into a dataset at ``out``: ``glyph data synth``.

    :param out: a new ``.safetensors(.gz)`` file or a new or empty folder (``layout``, default ``writers``).
    :param charset: a charset name, a text file or the characters (see :func:`glyph.data.charsets.load_charset`).
    :param first_writer: index of the first writer, for shards of a large set (see :func:`synth_dataset`).
    :param strokes: hanzi-writer-data folder (default: glyph's cache).
    :param unseen_chars: share of characters held out as unseen; ``unseen_writers`` likewise for writers.
    :param progress: called as ``progress(done, total)`` with glyph counts while drawing.
    :raises GlyphError: on a bad ``out``, size, margin or charset (checked before drawing) or missing stroke data.
    """
    from .charsets import load_charset
    from .loader import make_splits
    from .sources import check_dataset_output, save_dataset

    check_dataset_output(out)
    spec = make_spec(size, margin)
    cs = load_charset(charset)
    t = time.perf_counter()
    data, missing = synth_dataset(writers, cs, seed=seed, spec=spec, strokes=strokes, workers=workers,
                                  first=first_writer, progress=progress)
    seconds = time.perf_counter() - t
    splits = make_splits(data, unseen_writers=unseen_writers, unseen_chars=unseen_chars, seed=split_seed)
    return SynthSet(data, cs, missing, splits, seconds, save_dataset(data, out, layout))


def _rounded(d: dict) -> dict:
    """Writer parameters for the metadata, rounded so the JSON stays readable."""
    def r(v: object) -> object:
        if isinstance(v, float):
            return round(v, 4)
        if isinstance(v, tuple):
            return [r(x) for x in v]
        return v
    return {k: r(v) for k, v in d.items()}
