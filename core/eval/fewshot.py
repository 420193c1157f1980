"""The few-shot imitation protocol: generate held-out characters of each writer from k references.

For every writer of a split (``SFUC``: writers seen in training, characters not; ``UFUC``: neither),
k references are drawn from the writer's *seen* characters (never a target) with a fixed seed, and
each target character is generated from its template glyph. Two baselines go through the same
protocol, so a method's numbers have a floor to beat:

- ``template copy``: output the standard-font template itself (perfect content, no style);
- ``nearest reference``: output the reference most similar (L1) to the template (style, wrong content).

Any method with ``stylize(refs, templates)`` (uint8 ``[K,1,H,W]`` and ``[N,1,H,W]`` in, floats in [0, 1]
out) can be measured; ``glyph eval fewshot`` runs it and prints one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..dataset import GlyphData
from ..errors import GlyphError

BASELINES = ("template copy", "nearest reference")


@dataclass
class Episode:
    """One writer's task: its references and the targets (rows of the dataset) with their templates."""

    writer: int
    refs: torch.Tensor  # uint8 [K, 1, H, W]
    targets: torch.Tensor  # rows
    templates: torch.Tensor  # uint8 [N, 1, H, W]


def episodes(data: GlyphData, split: str, k: int, template: str, per_writer: int = 100,
             seed: int = 0) -> list[Episode]:
    """The deterministic episodes of ``split`` with ``k`` references per writer.

    :param template: the writer whose glyphs are the templates (excluded from the writers measured).
    :param per_writer: at most this many target characters per writer (a fixed random subset).
    """
    from ..data.loader import split_rows

    split = split.upper()
    if split not in ("SFUC", "UFUC"):
        raise GlyphError(f"few-shot splits are SFUC (seen writers) and UFUC (unseen writers), not {split}")
    for col in ("writer", "char"):
        if col not in data.labels:
            raise GlyphError("the few-shot protocol needs a writers dataset (labels writer and char)")
    writers = data.classes["writer"]
    if template not in writers:
        raise GlyphError(f"the dataset has no template writer '{template}'")
    t = writers.index(template)
    w, ch = data.labels["writer"].cpu(), data.labels["char"].cpu()
    template_row = torch.full((len(data.classes["char"]),), -1, dtype=torch.long)
    rows_t = torch.nonzero(w == t).flatten()
    template_row[ch[rows_t]] = rows_t
    targets = split_rows(data, split)
    pool = split_rows(data, split[0] + "FSC")  # the same writers' seen characters: where references come from
    g = torch.Generator().manual_seed(seed)
    out = []
    for writer in sorted(set(w[targets].tolist()) - {t}):
        mine = targets[(w[targets] == writer) & (template_row[ch[targets]] >= 0)]
        own_pool = pool[w[pool] == writer]
        if len(mine) == 0 or len(own_pool) < k:
            continue
        mine = mine[torch.randperm(len(mine), generator=g)[:per_writer]].sort().values
        refs = own_pool[torch.randperm(len(own_pool), generator=g)[:k]]
        out.append(Episode(writer, data.images[refs].cpu(), mine, data.images[template_row[ch[mine]]].cpu()))
    if not out:
        raise GlyphError(f"split {split} has no writer with both held-out characters and {k} references; render the "
                         f"data with --unseen-writers/--unseen-chars")
    return out


def nearest_reference(refs: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """For each template, the reference closest to it in L1 (uint8 in, uint8 out)."""
    d = (templates.float().flatten(1)[:, None] - refs.float().flatten(1)[None]).abs().mean(-1)
    return refs[d.argmin(1)]


def build_sets(data: GlyphData, eps: list[Episode], generate: Any | None) -> dict[str, GlyphData]:
    """Real targets, the baselines' outputs and (when ``generate`` is given) the method's, as labelled sets."""
    rows = torch.cat([e.targets for e in eps])
    labels = {"char": data.labels["char"].cpu()[rows], "writer": data.labels["writer"].cpu()[rows]}
    meta = {"ink": data.meta.get("ink", "glyph")}

    def as_set(images: torch.Tensor) -> GlyphData:
        return GlyphData(images, dict(labels), data.classes, dict(meta))

    sets = {"real": as_set(data.images[rows].cpu()),
            "template copy": as_set(torch.cat([e.templates for e in eps])),
            "nearest reference": as_set(torch.cat([nearest_reference(e.refs, e.templates) for e in eps]))}
    if generate is not None:
        out = [(generate(e.refs, e.templates).clamp(0, 1) * 255 + 0.5).to(torch.uint8) for e in eps]
        sets["method"] = as_set(torch.cat(out))
    return sets


def picture(eps: list[Episode], sets: dict[str, GlyphData], writers: int = 6, cols: int = 8) -> Any:
    """A sheet for the eye: per writer, a row of its references, a row generated, a row of ground truth.

    Display floats (dark on white). Blank cells pad short rows.
    """
    import numpy as np

    from ..grid import tile

    blank = np.zeros((1, *sets["real"].images.shape[2:]), np.float32)
    rows: list[np.ndarray] = []
    start = 0
    for e in eps[:writers]:
        n = len(e.targets)
        for block in (e.refs.numpy()[:cols, 0] / 255,
                      sets["method"].images[start:start + n].numpy()[:cols, 0] / 255,
                      sets["real"].images[start:start + n].numpy()[:cols, 0] / 255):
            pad = [blank] * (cols - len(block))
            rows.append(np.concatenate([block.astype(np.float32), *pad]) if pad else block.astype(np.float32))
        start += n
    return 1.0 - tile(np.concatenate(rows), cols=cols)
