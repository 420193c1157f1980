"""The restoration protocol: damage held-out glyphs with a fixed seed, restore them, compare with the clean ones.

The glyphs are the held-out rows of a writers dataset (``UFUC``: writers *and* characters never seen in
training; ``SFUC``: seen writers, unseen characters), at most ``per_writer`` per writer, the same ones
:func:`glyph.eval.fewshot.episodes` picks. Each is damaged by the data layer's seeded wear pipeline
(:func:`glyph.data.damage.damage_images`), so every method and every run sees the same damage. The systems
measured against the clean glyphs:

- ``damaged``: the input itself, the floor a restorer must beat;
- ``template copy``: the standard-font glyph of the character (right character, wrong hand);
- the method with the template channel, and (when it has one to drop) without it;
- ``clean``: the ground truth, which tells how well the judge reads the writers at all.

Any method with ``restore_batch(damaged, template=None)`` (floats ``[N, 1, H, W]`` with 1 = ink in and out) can be
measured; ``glyph eval restore`` runs it and prints one table.
"""

from __future__ import annotations

from typing import Any

import torch

from ..dataset import GlyphData
from .fewshot import episodes

DAMAGED, TEMPLATE, CLEAN = "damaged", "template copy", "clean"


def restoration_sets(data: GlyphData, split: str, template: str, restore: Any, *, per_writer: int = 100,
                     seed: int = 0, damage_seed: int = 0, k: int = 3, strength: float = 1.0,
                     blind: bool = True) -> dict[str, GlyphData]:
    """Clean targets, their damaged versions, the template copy and the restorations, as labelled sets.

    :param restore: ``restore_batch(damaged, template)`` of a restoration method.
    :param blind: also restore without the template channel (set ``"<system> without template"``).
    :returns: sets named ``clean``, ``damaged``, ``template copy``, ``restored`` and maybe ``restored blind``.
    """
    from ..data.damage import Damage, damage_images

    eps = episodes(data, split, 0, template, per_writer, seed=seed)
    rows = torch.cat([e.targets for e in eps])
    clean = data.images[rows].cpu()
    damaged = damage_images(clean, seed=damage_seed, config=Damage(k=k, strength=strength))
    templates = torch.cat([e.templates for e in eps])
    labels = {"char": data.labels["char"].cpu()[rows], "writer": data.labels["writer"].cpu()[rows]}
    meta = {"ink": data.meta.get("ink", "glyph")}

    def as_set(images: torch.Tensor) -> GlyphData:
        if images.dtype != torch.uint8:
            images = (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        return GlyphData(images, dict(labels), data.classes, dict(meta))

    sets = {CLEAN: as_set(clean), DAMAGED: as_set(damaged), TEMPLATE: as_set(templates),
            "restored": as_set(restore(damaged.float() / 255, templates.float() / 255))}
    if blind:
        sets["restored blind"] = as_set(restore(damaged.float() / 255, None))
    return sets


def picture(sets: dict[str, GlyphData], n: int = 12, writers: int = 4) -> Any:
    """A sheet for the eye: per writer, rows damaged | restored | clean of its first ``n`` glyphs (dark on white)."""
    import numpy as np

    from ..grid import tile

    w = sets[CLEAN].labels["writer"]
    rows: list[np.ndarray] = []
    for writer in list(dict.fromkeys(w.tolist()))[:writers]:
        idx = torch.nonzero(w == writer).flatten()[:n]
        for name in (DAMAGED, "restored", CLEAN):
            block = sets[name].images[idx].numpy()[:, 0].astype(np.float32) / 255
            pad = n - len(block)
            rows.append(np.concatenate([block, np.zeros((pad, *block.shape[1:]), np.float32)]) if pad else block)
    return 1.0 - tile(np.concatenate(rows), cols=n)
