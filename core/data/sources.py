"""Opening any dataset source and saving to any layout: the one entry point the CLI and trainer use.

A source is a packed file, a folder in one of the registered layouts (detected, or named with
``layout=``), ``embedded`` (the small dataset bundled with glyph), or ``example:NAME``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ..dataset import DatasetFormat, GlyphData
from ..errors import GlyphError, did_you_mean
from ..resources import resolve_input

EMBEDDED = "embedded"
EMBEDDED_FILE = "glyphs64.safetensors.gz"


def embedded_path() -> Path:
    """The bundled dataset file (see docs/data.md for the command that rebuilds it)."""
    return Path(str(resources.files("glyph") / "assets" / "embedded" / EMBEDDED_FILE))


def formats() -> dict[str, DatasetFormat]:
    """Registered dataset formats by name, instantiated; the catch-all ``flat`` comes last."""
    from ..loader import get_registry

    entries = get_registry().datasets
    order = sorted(entries, key=lambda n: n == "flat")
    return {name: entries[name].obj() for name in order}


def detect_layout(path: Path) -> str:
    """The name of the first format that recognises ``path``."""
    for name, fmt in formats().items():
        if fmt.detect(path):
            return name
    raise GlyphError(f"{path}: not a dataset glyph recognises (a folder of images or a .safetensors file)")


def open_dataset(src: str | Path, layout: str | None = None, **options: Any) -> GlyphData:
    """Load ``src`` into memory (CPU). ``options``: ``size``, ``ink``, ``channels`` for image folders."""
    if str(src) == EMBEDDED:
        from .packed import load_packed

        return load_packed(embedded_path())
    path = resolve_input(src)
    if not path.exists():
        raise GlyphError(f"{path}: no such file or folder; give a dataset folder, a .safetensors file or 'embedded'")
    table = formats()
    if layout is None:
        layout = detect_layout(path)
    elif layout not in table:
        raise GlyphError(f"unknown layout '{layout}'{did_you_mean(layout, table)}; layouts: {', '.join(table)}")
    fmt = table[layout]
    if layout != "packed" and path.is_file():
        raise GlyphError(f"{path} is a file; the '{layout}' layout is a folder (give --layout packed for a "
                         f".safetensors file)")
    try:
        return fmt.read(path, **({} if layout == "packed" else options))
    except PermissionError as e:
        raise GlyphError(f"{path}: permission denied ({e.filename})") from None


def check_dataset_output(out: str | Path, layout: str | None = None) -> Path:
    """Check before any work that ``out`` can receive a dataset: a writable new file when packed, else a new
    or empty folder (see :func:`glyph.paths.check_output_dir`).

    :raises GlyphError: one line naming ``out`` and what to do.
    """
    from ..paths import check_output_dir, check_output_file
    from .packed import is_packed

    out = Path(out).expanduser()
    if layout == "packed" or (layout is None and is_packed(out)):
        return check_output_file(out)
    return check_output_dir(out)


def save_dataset(data: GlyphData, out: str | Path, layout: str | None = None, **options: Any) -> Path:
    """Write ``data`` to ``out``: packed when ``out`` ends in .safetensors(.gz), else a folder layout.

    The default folder layout is ``writers`` when the data has characters and writers, else ``flat``.
    A folder must be new or empty, so nothing existing is overwritten or mixed in.
    """
    from .packed import is_packed

    out = Path(out).expanduser()
    table = formats()
    if layout is None:
        layout = "packed" if is_packed(out) else ("writers" if {"char", "writer"} <= set(data.labels) else "flat")
    if layout not in table:
        raise GlyphError(f"unknown layout '{layout}'{did_you_mean(layout, table)}; layouts: {', '.join(table)}")
    check_dataset_output(out, layout)
    if layout != "packed":
        out.mkdir(parents=True, exist_ok=True)
    try:
        table[layout].write(data, out, **options)
    except NotImplementedError:
        raise GlyphError(f"the '{layout}' layout can only be read; write to a .safetensors file instead") from None
    return out


def pack_dataset(src: str | Path, out: str | Path, layout: str | None = None, size: int | None = None,
                 ink: str = "auto", channels: int | None = None, unseen_chars: float | None = None,
                 unseen_writers: float | None = None, split_seed: int = 0, option: str = "--out") -> GlyphData:
    """Convert any dataset source into one packed file ``out`` (``glyph data pack``) and return the data.

    A folder's unreadable files are listed in the data's ``meta["skipped"]`` as ``(path, reason)``.

    :param size, ink, channels: how to read an image folder (see :func:`open_dataset`).
    :param unseen_chars, unseen_writers: recompute the unseen split with these shares (one given: the other is 0;
        neither: keep the source's); the template writer is never held out.
    :param option: how messages name ``out`` (the CLI's option or argument).
    :raises GlyphError: when ``out`` is not a writable ``.safetensors(.gz)`` file, or ``src`` cannot be read.
    """
    from ..paths import check_output_file
    from .loader import make_splits
    from .packed import is_packed

    out = Path(out)
    if not is_packed(out):
        raise GlyphError(f"{option} must end in .safetensors or .safetensors.gz, got {out.name}")
    check_output_file(out, option)
    data = open_dataset(src, layout, size=size, ink=ink, channels=channels)
    if unseen_chars is not None or unseen_writers is not None:
        keep = (data.meta["template_writer"],) if "template_writer" in data.meta else ()
        make_splits(data, unseen_writers or 0.0, unseen_chars or 0.0, split_seed, keep=keep)
    save_dataset(data, out)
    return data


def write_preview(src: str | Path, out: str | Path, n: int = 64, cols: int | None = None, writer: str | None = None,
                  layout: str | None = None, seed: int | None = None) -> tuple[int, int]:
    """Draw a grid of ``n`` of a dataset's images (glyphs dark on white) into the image file ``out``
    (``glyph data show``); returns ``(images shown, images in the dataset)``.

    :param cols: images per row (default: square).
    :param writer: only this writer's (or style's) images.
    :param seed: a random sample with this seed; None: the first ``n``.
    :raises GlyphError: when ``out`` is not a writable image file name, or ``writer`` is not in the dataset.
    """
    import torch

    from ..grid import glyphs_for_display, tile
    from ..imageio import write_image
    from ..paths import check_output_file

    check_output_file(out, image=True)
    data = open_dataset(src, layout)
    rows = torch.arange(len(data))
    if writer is not None:
        if "writer" not in data.labels or writer not in data.classes["writer"]:
            known = ", ".join(data.classes.get("writer", [])[:20]) or "none"
            raise GlyphError(f"no writer '{writer}' in {src}; writers: {known}")
        rows = torch.nonzero(data.labels["writer"] == data.classes["writer"].index(writer)).flatten()
    if seed is not None:
        rows = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))]
    rows = rows[:max(1, n)]
    write_image(out, tile(glyphs_for_display(data.images[rows].numpy(), data.meta.get("ink", "glyph")), cols))
    return len(rows), len(data)
