"""Fonts out: trace generated glyph bitmaps into outlines and build installable OpenType fonts.

``glyph font build DIR --name "My Hand" --out myhand.otf`` -> :func:`build_font_from_folder` (:func:`build_font`
on :func:`glyphs_from_folder`); ``glyph font show`` -> :func:`write_text_preview` (:func:`render_text`);
``glyph font install`` -> :func:`install_font`.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import GlyphError
from .build import FontReport, build_font

__all__ = ["FontReport", "build_font", "build_font_from_folder", "check_font_file", "glyphs_from_folder",
           "install_font", "render_text", "write_text_preview"]

INKS = ("auto", "dark", "light")


def glyphs_from_folder(folder: str | Path, ink: str = "auto") -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Square glyph images named after their characters (``永.png``, ``U+6C38.png``) -> {char: ink bitmap}.

    :returns: the bitmaps (floats, 1 = ink) and ``(file, reason)`` for every file not used.
    """
    from ..data.layouts import glyph_pixels
    from ..data.refs import char_from_filename
    from ..imageio import ImageReadError, list_images, read_image

    root = Path(folder)
    if not root.is_dir():
        raise GlyphError(f"{root} is not a folder; give the folder of glyph images (e.g. the --out of glyph run "
                         f"dsfgan)")
    paths, skipped = list_images(root, recursive=False)
    skipped = list(skipped)
    glyphs: dict[str, np.ndarray] = {}
    for p in paths:
        ch = char_from_filename(p.stem, allow_any=True)
        if ch is None:
            skipped.append((str(p), "the file name is not one character (name glyphs 永.png or U+6C38.png)"))
            continue
        if ch in glyphs:
            skipped.append((str(p), f"a second image of {ch}; the first one is used"))
            continue
        try:
            pixels, kind = read_image(p)
        except ImageReadError as e:
            skipped.append((str(p), str(e)))
            continue
        if pixels.shape[0] != pixels.shape[1]:
            skipped.append((str(p), f"{pixels.shape[1]}x{pixels.shape[0]} is not square; a glyph image is its em "
                                    f"square"))
            continue
        glyphs[ch] = glyph_pixels(pixels, kind, ink)  # type: ignore[arg-type]
    if not glyphs:
        raise GlyphError(f"no usable glyph image in {root}; name each PNG after its character, e.g. 永.png")
    return glyphs, skipped


def render_text(font: str | Path, text: str, size: int = 64, columns: int = 12) -> np.ndarray:
    """A page of ``text`` set in ``font`` by Pillow (FreeType): display floats, 1 = paper."""
    from PIL import Image, ImageDraw, ImageFont

    from ..typeset import typeset

    try:
        face = ImageFont.truetype(str(font), size)
    except OSError as e:
        raise GlyphError(f"cannot open font {font} ({e}); give a .otf or .ttf file") from None
    from fontTools.ttLib import TTFont

    mapped = TTFont(str(font), lazy=True).getBestCmap() or {}
    cells: dict[str, np.ndarray] = {}
    for ch in set(text):
        if ch.isspace() or ord(ch) not in mapped:
            continue
        im = Image.new("L", (size, size), 0)
        ImageDraw.Draw(im).text((0, size * 7 // 8), ch, font=face, fill=255, anchor="ls")
        cells[ch] = 1.0 - np.asarray(im, np.float32) / 255
    if not cells:
        raise GlyphError(f"{Path(font).name} has none of the characters of the text")
    return typeset(text, cells, columns=columns)


def build_font_from_folder(folder: str | Path, out: str | Path, family: str, style: str = "Regular", em: int = 1000,
                           *, ink: str = "auto", cjk_only: bool = False,
                           progress: Callable[[int, int], None] | None = None) -> FontReport:
    """A font of the glyph images in ``folder`` (:func:`glyphs_from_folder`) written to ``out`` (:func:`build_font`),
    with every argument checked before any tracing starts.

    :param ink: the images' ink: ``auto``, ``dark`` (on white) or ``light``.
    :returns: the build's report; its ``skipped`` lists the files of ``folder`` not used, then the characters the
        build left out.
    :raises GlyphError: a bad ``ink``, an ``out`` not named .otf or .ttf or not writable, no usable image.
    """
    from ..paths import check_output_file

    if ink not in INKS:
        raise GlyphError(f"--ink {ink!r}: use auto, dark or light")
    if Path(out).suffix.lower() not in (".otf", ".ttf"):
        raise GlyphError(f"give the font file a .otf (CFF outlines) or .ttf (TrueType outlines) name, not "
                         f"{Path(out).name}")
    check_output_file(out)
    bitmaps, unused = glyphs_from_folder(folder, ink)
    report = build_font(bitmaps, out, family, style, em, cjk_only=cjk_only, progress=progress)
    report.skipped = [*unused, *report.skipped]
    return report


def write_text_preview(font: str | Path, text: str, out: str | Path, size: int = 64, columns: int = 12) -> Path:
    """Set ``text`` in ``font`` (:func:`render_text`) and save the page as the image ``out``; returns ``out``.

    :raises GlyphError: ``font`` is not a file, ``out`` cannot be written, the font has none of the characters.
    """
    from ..imageio import write_image
    from ..paths import check_output_file

    if not Path(font).is_file():
        raise GlyphError(f"{font} does not exist; give a .otf or .ttf file")
    check_output_file(out, image=True)
    write_image(Path(out), render_text(font, text, size, columns))
    return Path(out)


FONT_SUFFIXES = (".otf", ".ttf", ".otc", ".ttc")


def check_font_file(font: str | Path) -> Path:
    """``font`` as a Path when it is a regular file that fontTools parses as a font with a character map.

    :raises GlyphError: one line saying what the file is instead (missing, not a font, no cmap).
    """
    from fontTools.ttLib import TTCollection, TTFont, TTLibError

    src = Path(font)
    if not src.is_file():
        raise GlyphError(f"{src} does not exist or is not a file; build a font first with glyph font build")
    if src.suffix.lower() not in FONT_SUFFIXES:
        raise GlyphError(f"{src} is not a font file (.otf, .ttf, .otc or .ttc); build one with glyph font build")
    try:
        if src.suffix.lower() in (".otc", ".ttc"):
            with TTCollection(str(src), lazy=True) as collection:
                maps = [f.getBestCmap() for f in collection.fonts]
        else:
            with TTFont(str(src), lazy=True) as f:
                maps = [f.getBestCmap()]
    except (TTLibError, OSError, ValueError, KeyError, AssertionError, struct.error) as e:
        raise GlyphError(f"{src} is not a font fontTools can read ({type(e).__name__}: {e}); give a .otf or .ttf "
                         f"file, e.g. one made by glyph font build") from None
    if not maps or not all(maps):
        raise GlyphError(f"{src} has no character map (cmap), so no text could use it; rebuild it with glyph font "
                         f"build")
    return src


def install_font(font: str | Path, force: bool = False) -> Path:
    """Copy ``font`` into the user's font folder (~/.local/share/fonts) and refresh fontconfig's cache.

    Only files fontTools reads as fonts with a character map are installed. A different font already
    installed under the same file name is replaced only with ``force``; a symlink at the destination is
    replaced, never written through.

    :raises GlyphError: for a file that is not a font, a different font of the same name (without ``force``),
        or a font folder that cannot be written.
    """
    import filecmp

    from ..imageio import atomic_output
    from ..paths import safe_name

    src = check_font_file(font)
    folder = Path.home() / ".local" / "share" / "fonts"
    dest = folder / safe_name(src.name)
    if dest.exists() and not dest.is_symlink():
        if os.path.samefile(src, dest) or (dest.is_file() and filecmp.cmp(src, dest, shallow=False)):
            return dest  # already installed: copying a file onto itself would empty it
        if not force:
            raise GlyphError(f"{dest} is already installed and is a different font; rename {src.name}, or add "
                             f"--force to replace it")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_output(dest) as tmp:  # a temporary file renamed over dest: a link there is replaced
            shutil.copyfile(src, tmp)
    except OSError as e:
        raise GlyphError(f"cannot install into {folder} ({e.strerror or e}); check its permissions") from None
    if shutil.which("fc-cache"):
        subprocess.run(["fc-cache", "-f", str(folder)], check=False, capture_output=True)
    return dest
