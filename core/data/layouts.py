"""On-disk dataset layouts, read into a :class:`~glyph.GlyphData` and written back.

(a) ``writers``  ``root/script/<writer>/<char>.png`` + ``root/template/<char>.png`` (+ ``root/test/<writer>/``),
    the DSF-GAN/MetaScript layout; a stem is the character, ``U+6C38`` or a decimal GB2312 code.
(b) ``styles``   ``root/<style>/*`` (the Kaggle calligraphy layout; ``root/{train,test}/<style>/*`` too).
(c) ``classes``  ``root/<char>/*`` (RestoreCAE); the file stem names the writer.
(d) ``flat``     any images in a folder tree, grayscale or colour (GANji, the oil paintings).
(e) ``packed``   one safetensors file (see packed.py).

Files are converted at the edge to the toolkit's convention (uint8, 255 = ink) with the polarity
given or detected per image, padded to a square with paper and resized. Bad files (corrupt,
truncated, empty, not an image, a name that is no character, an exact duplicate, a symlink out of the
folder) are skipped with one line each in ``meta["skipped"]``; the good ones are used.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image

from ..dataset import DatasetFormat, GlyphData
from ..errors import GlyphError
from ..imageio import ImageReadError, list_images, read_image, write_image
from ..paths import inside, safe_name
from ..threads import cpu_budget
from . import INK_COLOR, INK_GLYPH
from .charsets import gb2312_code, parse_char_name

Ink = Literal["dark", "light", "auto"]
NAMING_HELP = "name files after their character: 永.png, U+6C38.png or the decimal GB2312 code 48583.png"
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class ReadOptions:
    """How files become dataset rows: target size (None: keep a uniform square size, else 64),
    ink polarity of glyph files, and channels (None: 1 for glyph layouts, detected for flat folders)."""

    size: int | None = None
    ink: Ink = "auto"
    channels: int | None = None


def _square(im: Image.Image, fill: int | tuple[int, ...], crop: bool) -> Image.Image:
    w, h = im.size
    if w == h:
        return im
    if crop:  # colour pictures: centre crop, as the painting notebooks' square resize intends
        s = min(w, h)
        return im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    s = max(w, h)
    out = Image.new(im.mode, (s, s), fill)
    out.paste(im, ((s - w) // 2, (s - h) // 2))
    return out


def glyph_pixels(pixels: np.ndarray, kind: str, ink: Ink) -> np.ndarray:
    """Floats from :func:`read_image` -> ink amount in [0, 1] (1 = ink), alpha composited as paper."""
    a = pixels
    alpha = None
    if kind in ("LA", "RGBA"):
        a, alpha = pixels[..., :-1], pixels[..., -1]
    gray = a if a.ndim == 2 else (a[..., 0] if a.shape[-1] == 1 else a[..., :3] @ LUMA)
    dark = float(np.median(gray)) >= 0.5 if ink == "auto" else ink == "dark"
    amount = 1.0 - gray if dark else gray
    if alpha is not None:
        amount = amount * alpha  # transparent = paper
    return amount


def load_file(path: Path, opts: ReadOptions, channels: int) -> np.ndarray:
    """One file as uint8 ``[C, S, S]`` in the toolkit's convention (raises ImageReadError)."""
    pixels, kind = read_image(path)
    if channels == 1:
        im = Image.fromarray((glyph_pixels(pixels, kind, opts.ink) * 255 + 0.5).astype(np.uint8), "L")
        im = _square(im, 0, crop=False)
    else:
        rgb = pixels[..., :3] if pixels.ndim == 3 and pixels.shape[-1] >= 3 else np.repeat(
            (pixels if pixels.ndim == 2 else pixels[..., :1]).reshape(*pixels.shape[:2], 1), 3, axis=-1)
        im = _square(Image.fromarray((rgb * 255 + 0.5).astype(np.uint8), "RGB"), (0, 0, 0), crop=True)
    size = opts.size or 64
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.LANCZOS if im.width > size else Image.Resampling.BICUBIC)
    arr = np.asarray(im)
    return arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)


def _load_chunk(paths: list[str], opts: ReadOptions, channels: int) -> list[tuple[np.ndarray | None, str]]:
    out = []
    for p in paths:
        try:
            out.append((load_file(Path(p), opts, channels), ""))
        except ImageReadError as e:
            out.append((None, str(e).removeprefix(f"{p}: ")))
    return out


def load_files(paths: list[Path], opts: ReadOptions, channels: int) -> list[tuple[np.ndarray | None, str]]:
    """Decode many files (in parallel for large folders); ``(array, "")`` or ``(None, reason)`` each."""
    names = [str(p) for p in paths]
    workers = cpu_budget()  # never more processes than the CPUs glyph may use (glyph.threads)
    if len(names) < 512 or workers == 1:
        return _load_chunk(names, opts, channels)
    import multiprocessing as mp

    step = 256
    ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        parts = [pool.submit(_load_chunk, names[i:i + step], opts, channels) for i in range(0, len(names), step)]
        return [r for part in parts for r in part.result()]


def uniform_size(paths: list[Path]) -> int | None:
    """The common square size of a few sampled files, or None when they differ."""
    sizes = set()
    for p in paths[:: max(1, len(paths) // 16)][:16]:
        try:
            with Image.open(p) as im:
                sizes.add(im.size)
        except Exception:
            continue
    if len(sizes) == 1:
        w, h = sizes.pop()
        return w if w == h else None
    return None


def is_colour(paths: list[Path]) -> bool:
    """True when sampled files carry colour (channels that differ), i.e. paintings rather than glyphs."""
    for p in paths[:: max(1, len(paths) // 16)][:16]:
        try:
            pixels, kind = read_image(p)
        except ImageReadError:
            continue
        if kind in ("RGB", "RGBA"):
            rgb = pixels[..., :3]
            if float(np.abs(rgb - rgb.mean(-1, keepdims=True)).mean()) > 0.02:
                return True
    return False


class _Builder:
    """Collects rows (image, labels) and skipped files, then builds a GlyphData."""

    def __init__(self, root: Path, layout: str, opts: ReadOptions, channels: int) -> None:
        self.root, self.layout, self.opts, self.channels = root, layout, opts, channels
        self.items: list[tuple[Path, dict[str, str]]] = []
        self.skipped: list[tuple[str, str]] = []

    def add(self, path: Path, **labels: str) -> None:
        self.items.append((path, labels))

    def skip(self, path: Path | str, why: str) -> None:
        self.skipped.append((str(path), why))

    def build(self, meta: dict[str, Any], class_order: dict[str, list[str]] | None = None) -> GlyphData:
        import torch  # here, not at import: registering the layouts must stay cheap

        if not self.items:
            extra = f"; {len(self.skipped)} file(s) skipped, e.g. {self.skipped[0][0]}: {self.skipped[0][1]}" \
                if self.skipped else ""
            raise GlyphError(f"no usable images in {self.root} (layout '{self.layout}'){extra}")
        opts = self.opts
        if opts.size is None:
            opts = ReadOptions(uniform_size([p for p, _ in self.items]) or 64, opts.ink, opts.channels)
        decoded = load_files([p for p, _ in self.items], opts, self.channels)
        rows, labels_rows, seen = [], [], {}
        for (path, labels), (arr, why) in zip(self.items, decoded, strict=True):
            if arr is None:
                self.skip(path, why)
                continue
            digest = hashlib.blake2b(arr.tobytes(), digest_size=16).digest() + repr(sorted(labels.items())).encode()
            if digest in seen:
                self.skip(path, f"duplicate of {seen[digest]}")
                continue
            seen[digest] = path.name
            rows.append(arr)
            labels_rows.append(labels)
        if not rows:
            raise GlyphError(f"no usable images in {self.root}: all {len(self.skipped)} file(s) were skipped, "
                             f"e.g. {self.skipped[0][0]}: {self.skipped[0][1]}")
        classes: dict[str, list[str]] = {}
        labels_t: dict[str, Any] = {}
        for key in labels_rows[0]:
            names = (class_order or {}).get(key) or sorted({r[key] for r in labels_rows}, key=_class_key(key))
            index = {n: i for i, n in enumerate(names)}
            classes[key] = names
            labels_t[key] = torch.tensor([index[r[key]] for r in labels_rows], dtype=torch.int64)
        meta = {"ink": INK_GLYPH if self.channels == 1 else INK_COLOR, "source": str(self.root),
                "layout": self.layout, **meta, "skipped": self.skipped}
        return GlyphData(torch.from_numpy(np.stack(rows)), labels_t, classes, meta)


def _class_key(column: str):
    if column == "char":  # GB2312 order where possible (DSF-GAN's class order), then code point
        return lambda c: (gb2312_code(c) is None, gb2312_code(c) or 0, ord(c[0]))
    return lambda n: n


def _images_or_raise(folder: Path, builder: _Builder) -> list[Path]:
    files, skipped = list_images(folder)
    for path, why in skipped:
        builder.skip(path, why)
    return files


class Writers(DatasetFormat):
    """(a) ``script/<writer>/<char>.png`` + ``template/<char>.png`` (+ ``test/<writer>/``)."""

    name = "writers"
    summary = "DSF-GAN/MetaScript: script/<writer>/<char>.png, template/, test/"
    TEMPLATE: ClassVar[str] = "template"

    def detect(self, path: Path) -> bool:
        """A folder with a ``script`` subfolder."""
        return path.is_dir() and (path / "script").is_dir()

    def read(self, path: Path, **options: Any) -> GlyphData:
        """Read all writers; ``test/`` writers are recorded as unseen, ``template/`` as the template writer."""
        opts = ReadOptions(**options)
        b = _Builder(path, self.name, opts, 1)
        unseen = []
        for part in ("script", "test"):
            base = path / part
            if not base.is_dir():
                continue
            for wdir in sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")):
                if part == "test":
                    unseen.append(wdir.name)
                for f in _images_or_raise(wdir, b):
                    ch = parse_char_name(f.stem)
                    if ch is None:
                        b.skip(f, f"file name is not a character; {NAMING_HELP}")
                    else:
                        b.add(f, char=ch, writer=wdir.name)
        has_template = (path / self.TEMPLATE).is_dir()
        if has_template:
            for f in _images_or_raise(path / self.TEMPLATE, b):
                ch = parse_char_name(f.stem)
                if ch is None:
                    b.skip(f, f"file name is not a character; {NAMING_HELP}")
                else:
                    b.add(f, char=ch, writer=self.TEMPLATE)
        meta: dict[str, Any] = {"splits": {"unseen_writers": unseen}}
        if has_template:
            meta["template_writer"] = self.TEMPLATE
        return b.build(meta)

    def write(self, data: GlyphData, path: Path, naming: str = "char") -> None:
        """Write ``script/``, ``test/`` (unseen writers) and ``template/``; ``naming``: char|unicode|gb2312."""
        _require(data, ("char", "writer"), self.name)
        unseen = set(data.meta.get("splits", {}).get("unseen_writers", []))
        template = data.meta.get("template_writer", self.TEMPLATE)
        for i, (ch, writer) in enumerate(zip(data.label_names("char"), data.label_names("writer"), strict=True)):
            folder = path / self.TEMPLATE if writer == template else inside(path, "test" if writer in unseen else
                                                                            "script", writer)
            _write_row(data, i, _unique(folder, _stem(ch, naming)))


class Styles(DatasetFormat):
    """(b) ``<style>/*`` or ``{train,test}/<style>/*``."""

    name = "styles"
    summary = "Kaggle calligraphy: <style>/*.jpg (also train/ and test/ above the styles)"

    def detect(self, path: Path) -> bool:
        """Subfolders of images and no images at the top."""
        if not path.is_dir():
            return False
        subdirs = [d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")]
        return bool(subdirs) and not any(p.is_file() for p in path.iterdir() if p.suffix.lower() in (".png", ".jpg"))

    def read(self, path: Path, **options: Any) -> GlyphData:
        """Style = folder name; the character is read from file stems when every stem names one."""
        b = _Builder(path, self.name, ReadOptions(**options), 1)
        splits = [s for s in ("train", "test") if (path / s).is_dir()]
        bases = [(path / s, s) for s in splits] or [(path, "")]
        entries = []
        for base, split in bases:
            for sdir in sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")):
                for f in _images_or_raise(sdir, b):
                    entries.append((f, sdir.name, split))
        chars = [parse_char_name(f.stem) for f, _, _ in entries]
        with_chars = bool(entries) and all(c is not None for c in chars)
        for (f, style, split), ch in zip(entries, chars, strict=True):
            labels = {"writer": style, **({"char": ch} if with_chars else {}), **({"split": split} if split else {})}
            b.add(f, **labels)
        return b.build({}, {"split": ["train", "test"]} if splits else None)

    def write(self, data: GlyphData, path: Path) -> None:
        """``<style>/<char>.png`` (or ``<style>/NNNNNN.png`` without characters)."""
        _require(data, ("writer",), self.name)
        chars = data.label_names("char") if "char" in data.labels else None
        for i, style in enumerate(data.label_names("writer")):
            stem = chars[i] if chars else f"{i:06d}"
            _write_row(data, i, _unique(inside(path, style), stem))


class Classes(DatasetFormat):
    """(c) ``<char>/*``: one folder per character, the file stem names the writer."""

    name = "classes"
    summary = "RestoreCAE: <char>/<writer>.png, one folder per character"

    def detect(self, path: Path) -> bool:
        """Every subfolder is named after a character."""
        if not path.is_dir():
            return False
        subdirs = [d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")]
        return bool(subdirs) and all(parse_char_name(d.name) for d in subdirs)

    def read(self, path: Path, **options: Any) -> GlyphData:
        """Character from the folder, writer from the file stem."""
        b = _Builder(path, self.name, ReadOptions(**options), 1)
        for cdir in sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith(".")):
            ch = parse_char_name(cdir.name)
            if ch is None:
                b.skip(cdir, f"folder name is not a character; {NAMING_HELP}")
                continue
            for f in _images_or_raise(cdir, b):
                b.add(f, char=ch, writer=f.stem)
        return b.build({})

    def write(self, data: GlyphData, path: Path) -> None:
        """``<char>/<writer>.png``."""
        _require(data, ("char", "writer"), self.name)
        for i, (ch, writer) in enumerate(zip(data.label_names("char"), data.label_names("writer"), strict=True)):
            _write_row(data, i, _unique(inside(path, ch), writer))


class Flat(DatasetFormat):
    """(d) any images in a folder tree, grayscale glyphs or colour pictures."""

    name = "flat"
    summary = "a folder of images (GANji kanji, oil paintings); colour detected"

    def detect(self, path: Path) -> bool:
        """Any folder (the fallback)."""
        return path.is_dir()

    def read(self, path: Path, **options: Any) -> GlyphData:
        """No labels; colour data keeps 3 channels unless ``channels`` says otherwise."""
        opts = ReadOptions(**options)
        probe = _Builder(path, self.name, opts, 1)
        files = _images_or_raise(path, probe)
        if not files and not probe.skipped:
            raise GlyphError(f"no images in {path} (looked for .png, .jpg, .bmp, .gif, .tif, .webp files)")
        channels = opts.channels or (3 if is_colour(files) else 1)
        if channels not in (1, 3):
            raise GlyphError(f"channels must be 1 (glyphs) or 3 (colour), got {channels}")
        b = _Builder(path, self.name, opts, channels)
        b.skipped = probe.skipped
        for f in files:
            b.add(f)
        return b.build({})

    def write(self, data: GlyphData, path: Path) -> None:
        """``NNNNNN.png``."""
        for i in range(len(data)):
            _write_row(data, i, path / f"{i:06d}")


class Packed(DatasetFormat):
    """(e) one safetensors file."""

    name = "packed"
    summary = "one .safetensors (or .safetensors.gz) file: uint8 images, labels, JSON metadata"

    def detect(self, path: Path) -> bool:
        """A file with a packed suffix."""
        return str(path).endswith((".safetensors", ".safetensors.gz"))

    def read(self, path: Path, **options: Any) -> GlyphData:
        """Load the whole file; options do not apply (the file is already in glyph's convention)."""
        from .packed import load_packed

        return load_packed(path)

    def write(self, data: GlyphData, path: Path) -> None:
        """Save atomically."""
        from .packed import save_packed

        save_packed(data, path)


FORMATS: tuple[type[DatasetFormat], ...] = (Packed, Writers, Classes, Styles, Flat)


def _require(data: GlyphData, columns: tuple[str, ...], layout: str) -> None:
    missing = [c for c in columns if c not in data.labels]
    if missing:
        raise GlyphError(f"the '{layout}' layout needs label(s) {', '.join(missing)}, which this dataset lacks; "
                         f"write it as 'flat' or 'packed' instead")


def _stem(ch: str, naming: str) -> str:
    if naming == "unicode":
        return f"U+{ord(ch):04X}"
    if naming == "gb2312":
        code = gb2312_code(ch)
        if code is None:
            raise GlyphError(f"character {ch} (U+{ord(ch):04X}) has no GB2312 code; use --naming char or unicode")
        return str(code)
    return ch


def _unique(folder: Path, stem: str) -> Path:
    """A new ``<stem>.png`` (``<stem>_2.png``...) in ``folder``; the stem comes from data, so it is made safe."""
    stem = safe_name(stem)
    p = inside(folder, f"{stem}.png")
    n = 2
    while p.exists():
        p = inside(folder, f"{stem}_{n}.png")
        n += 1
    return p


def _write_row(data: GlyphData, i: int, path: Path) -> None:
    path = path if path.suffix == ".png" else path.with_name(path.name + ".png")
    arr = data.images[i].numpy().astype(np.float32) / 255.0
    if data.meta.get("ink", INK_GLYPH) == INK_GLYPH:
        write_image(path, 1.0 - arr[0])  # on disk, glyphs are dark ink on white paper
    else:
        write_image(path, np.moveaxis(arr, 0, -1))
