"""One writers dataset from several: real faces and synthetic writers side by side (``glyph data merge``).

Characters are matched by the character itself (each source numbers its own charset), writers by name, so
two renders of the same face are one writer. Each writer remembers its source (``meta["writer_source"]``:
``fonts`` for rendered faces, ``synth`` for procedural pen writers, else the file's name), and the unseen
splits of every source are kept, so that ``glyph eval fewshot`` can report unseen real faces and unseen
synthetic writers apart and nothing held out by one source is trained on through another.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..dataset import GlyphData
from ..errors import GlyphError


def merge_datasets(parts: list[tuple[str, GlyphData]]) -> GlyphData:
    """Concatenate ``(name, data)`` pairs (the name labels the source when the data does not say) into one
    dataset with the union of their characters and writers.

    :raises GlyphError: when the parts differ in image shape or ink, or one lacks char and writer labels.
    """
    if len(parts) < 2:
        raise GlyphError(f"merging needs at least two datasets (got {len(parts)})")
    first_name, first = parts[0]
    shape, ink = tuple(first.images.shape[1:]), first.meta.get("ink", "glyph")
    for name, data in parts:
        if tuple(data.images.shape[1:]) != shape:
            raise GlyphError(f"{name} holds {tuple(data.images.shape[1:])} images, {first_name} {shape}; make them "
                             f"the same size first (glyph data pack SRC OUT --size {shape[-1]})")
        if data.meta.get("ink", "glyph") != ink:
            raise GlyphError(f"{name} has ink '{data.meta.get('ink', 'glyph')}', {first_name} '{ink}'; only datasets "
                             f"of one kind merge")
        if not {"char", "writer"} <= set(data.labels):
            raise GlyphError(f"{name} has no char and writer labels; only writers datasets merge (glyph data render, "
                             f"glyph data synth, a writers folder)")
    chars: dict[str, int] = {}
    writers: dict[str, int] = {}
    source_of: dict[str, str] = {}
    unseen_writers: set[str] = set()
    unseen_chars: set[str] = set()
    images, char_col, writer_col, seeds = [], [], [], []
    for name, data in parts:
        source = str(data.meta.get("source") or name)
        if source not in ("fonts", "synth"):  # a folder's path: name it by the file given instead
            source = name
        char_map = torch.tensor([chars.setdefault(c, len(chars)) for c in data.classes["char"]], dtype=torch.long)
        writer_map = torch.tensor([writers.setdefault(w, len(writers)) for w in data.classes["writer"]],
                                  dtype=torch.long)
        for w in data.classes["writer"]:
            source_of.setdefault(w, source)
        splits = data.meta.get("splits", {})
        unseen_writers |= set(splits.get("unseen_writers", []))
        unseen_chars |= set(splits.get("unseen_chars", []))
        seeds += [str(s) for s in splits.get("seed", [])]
        images.append(data.images.cpu())
        char_col.append(char_map[data.labels["char"].cpu()])
        writer_col.append(writer_map[data.labels["writer"].cpu()])
    meta = {"ink": ink, "source": "merged", "writer_source": source_of,
            "sources": [{"name": name, "source": data.meta.get("source"), "images": len(data),
                         "fingerprint": data.fingerprint()} for name, data in parts],
            # Union of the held-out sets: a character unseen in one source stays unseen in all of them.
            "splits": {"unseen_writers": sorted(unseen_writers), "unseen_chars": sorted(unseen_chars),
                       "seed": sorted(set(seeds))}}
    return GlyphData(torch.cat(images), {"char": torch.cat(char_col), "writer": torch.cat(writer_col)},
                     {"char": list(chars), "writer": list(writers)}, meta)


def writer_sources(data: GlyphData) -> dict[str, str]:
    """Each writer's source (``fonts``, ``synth``, ...) as recorded by :func:`merge_datasets`, or the dataset's
    own source for every writer of an unmerged dataset."""
    recorded = data.meta.get("writer_source")
    if recorded:
        return dict(recorded)
    source = str(data.meta.get("source", "data"))
    return {w: source for w in data.classes.get("writer", [])}


def merge_files(sources: list[str], out: str | Path) -> GlyphData:
    """Merge dataset sources (packed files, folders; see :func:`glyph.data.sources.open_dataset`) into the new
    packed file ``out`` (``glyph data merge``) and return the merged data. Each source is named after its file.

    :raises GlyphError: when ``out`` is not a new, writable ``.safetensors(.gz)`` file, or as
        :func:`merge_datasets`.
    """
    from ..paths import check_output_file
    from .packed import is_packed
    from .sources import open_dataset, save_dataset

    out = Path(out)
    if not is_packed(out):
        raise GlyphError(f"--out must end in .safetensors or .safetensors.gz, got {out.name}")
    if out.exists():
        raise GlyphError(f"{out} exists; choose a new file so nothing is overwritten")
    check_output_file(out)
    data = merge_datasets([(Path(src).name.split(".")[0] or src, open_dataset(src)) for src in sources])
    save_dataset(data, out)
    return data
