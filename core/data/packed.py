"""The packed format: a whole dataset in one safetensors file (optionally gzip-compressed).

Tensors: ``images`` uint8 ``[N, C, H, W]`` and one int64 ``label.<column>`` per label column.
The safetensors header metadata holds one key, ``glyph``, with JSON: format version, class names of
every label column, and the dataset's metadata (charset, writers, ink, source, font hashes,
splits). No pickles: loading never runs code. ``.safetensors.gz`` trades a little load time for
files several times smaller (used for the dataset bundled with glyph).
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..dataset import GlyphData
from ..errors import GlyphError
from ..imageio import atomic_output

FORMAT = "glyph-packed"
VERSION = 1
SUFFIXES = (".safetensors", ".safetensors.gz")


def is_packed(path: Path) -> bool:
    """True when ``path`` names a packed file by its suffix."""
    return str(path).endswith(SUFFIXES)


def save_packed(data: GlyphData, path: str | Path) -> Path:
    """Write ``data`` to ``path`` atomically (``.safetensors`` or ``.safetensors.gz``)."""
    path = Path(path)
    if not is_packed(path):
        raise GlyphError(f"packed files end in .safetensors or .safetensors.gz, got {path.name}")
    tensors = {"images": data.images.detach().cpu().contiguous()}
    for key, col in data.labels.items():
        tensors[f"label.{key}"] = col.detach().cpu().to(torch.int64).contiguous()
    header = {"format": FORMAT, "version": VERSION, "classes": data.classes, "meta": data.meta}
    blob = st_save(tensors, metadata={"glyph": json.dumps(header, ensure_ascii=False)})
    try:
        with atomic_output(path) as tmp:
            if path.suffix == ".gz":  # mtime=0: the same data gives the same bytes
                with open(tmp, "wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as fh:
                    fh.write(blob)
            else:
                tmp.write_bytes(blob)
    except OSError as e:
        raise GlyphError(f"could not write {path}: {e.strerror or e}; check free space and permissions") from None
    return path


def load_packed(path: str | Path) -> GlyphData:
    """Read a packed file into memory (CPU). Raises GlyphError for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise GlyphError(f"{path}: no such packed dataset file")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        meta = json.loads(header.get("__metadata__", {}).get("glyph", "null"))
        tensors = st_load(raw)
    except (OSError, EOFError, ValueError, struct.error, gzip.BadGzipFile, UnicodeDecodeError) as e:
        raise GlyphError(f"{path}: not a readable glyph packed file ({type(e).__name__}); "
                         f"rebuild it with `glyph data pack`") from None
    except Exception as e:
        raise GlyphError(f"{path}: corrupt packed file ({e}); rebuild it with `glyph data pack`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "images" not in tensors:
        raise GlyphError(f"{path}: a safetensors file but not a glyph packed dataset (no glyph metadata); "
                         f"make one with `glyph data pack SRC OUT.safetensors`")
    if meta.get("version", 0) > VERSION:
        raise GlyphError(f"{path}: packed format version {meta['version']} is newer than this glyph reads "
                         f"({VERSION}); upgrade glyph")
    images = tensors["images"]
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise GlyphError(f"{path}: images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    if len(images) == 0:
        raise GlyphError(f"{path}: the packed file holds no images; rebuild it from a dataset with images")
    if images.shape[1] not in (1, 3):
        raise GlyphError(f"{path}: images have {images.shape[1]} channels; glyph reads 1 (glyphs) or 3 (colour), "
                         f"rebuild it with `glyph data pack`")
    labels = {k[len("label."):]: v for k, v in tensors.items() if k.startswith("label.")}
    classes = meta.get("classes", {})
    for key, col in labels.items():
        if col.numel() and key in classes and int(col.max()) >= len(classes[key]):
            raise GlyphError(f"{path}: label '{key}' refers to class {int(col.max())} of {len(classes[key])}; "
                             f"the file is inconsistent, rebuild it")
        if col.numel() and not col.dtype.is_floating_point and int(col.min()) < 0:
            raise GlyphError(f"{path}: label '{key}' holds a negative class ({int(col.min())}); the file is "
                             f"inconsistent, rebuild it")
    try:
        return GlyphData(images, labels, classes, meta.get("meta", {}))
    except ValueError as e:
        raise GlyphError(f"{path}: {e}") from None
