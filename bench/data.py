"""Data-layer throughput: rendering, packed loading, batches from memory, damage, reference photos."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _best(fn, repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(quick: bool = False) -> dict:
    """The suite; ``quick`` times everything once instead of best of a few."""
    from glyph import GlyphData
    from glyph.data.augment import diff_augment
    from glyph.data.charsets import load_charset
    from glyph.data.damage import damage_images
    from glyph.data.fonts import parse_font_specs
    from glyph.data.loader import BatchLoader, to_float
    from glyph.data.packed import load_packed, save_packed
    from glyph.data.refs import normalize_glyph
    from glyph.data.render import RenderSpec, render_faces
    from glyph.data.sources import open_dataset

    repeat = 1 if quick else 3
    out: dict = {}
    chars = load_charset("gb2312-1").chars
    try:
        faces = parse_font_specs("ukai-cn,noto-sans-sc-regular")
    except Exception:  # no corpus fonts on this machine
        faces = []
    if faces:
        render_faces(faces, chars[:200], RenderSpec(size=64))  # warm caches
        n = len(faces) * len(chars)
        out["render_glyphs_per_s_64px"] = round(n / _best(lambda: render_faces(faces, chars, RenderSpec(size=64)),
                                                             min(2, repeat)))
    emb = open_dataset("embedded")
    big = GlyphData(emb.images.repeat(19, 1, 1, 1)[:100_000].contiguous(), {}, {}, {})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.safetensors"
        save_packed(big, path)
        out["packed_load_100k_glyphs_s"] = round(_best(lambda: load_packed(path), repeat), 3)
    loader = BatchLoader(len(emb), 64, seed=0)
    g = torch.Generator().manual_seed(0)

    def batches(k: int = 200) -> None:
        for _ in range(k):
            x = to_float(emb.images[loader.next()], -1, 1)
            diff_augment(x, generator=g)

    out["loader_batches_per_s_64x64px_with_diffaugment"] = round(200 / _best(batches, repeat))
    out["loader_batches_per_s_64x64px_index_only"] = round(
        2000 / _best(lambda: [to_float(emb.images[loader.next()]) for _ in range(2000)], repeat))
    imgs = emb.images[:4096]
    out["damage_s_per_4096_glyphs_64px"] = round(_best(lambda: damage_images(imgs, seed=0), repeat), 3)
    rng = np.random.default_rng(0)
    photo = np.clip(0.9 - rng.random((3000, 4000, 3), dtype=np.float32) * 0.05, 0, 1)
    photo[1000:2000, 1500:2500] = 0.1
    out["refs_normalise_s_per_12mp_photo"] = round(_best(lambda: normalize_glyph(photo, "RGB"), repeat), 3)
    return out
