"""Output names built from data, and output folders checked before work starts.

Text characters, class names (writers, styles) and file stems come from users' files and may hold
``/``, ``..``, a leading ``.`` or control characters. Every name glyph derives from data goes through
:func:`safe_name`, and every path built from one through :func:`inside`, so nothing is ever written
outside the output folder the user named.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import GlyphError

# Reserved on Windows or meaningful to shells and file systems; encoded so a dataset copies anywhere.
_UNSAFE = frozenset('<>:"/\\|?*')
# Bytes a file name may take on common file systems (255) less room for a suffix such as "_12.png".
_MAX_BYTES = 200


def _encode(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def safe_name(name: str) -> str:
    """``name`` as one safe path component: unsafe characters become ``U+XXXX``.

    Encoded: path separators and other characters reserved on some file system (``<>:"/\\|?*``),
    characters that are not printable (controls, format characters), and a leading ``.`` or space
    (so ``.``, ``..`` and hidden files cannot arise) and a trailing space or dot. The empty name becomes
    ``_``. A name longer than a file system allows is shortened, with a hash of the
    whole name appended so distinct names stay distinct. A single safe character stays itself, so
    ``永`` -> ``永`` and ``/`` -> ``U+002F`` (which :func:`glyph.data.charsets.parse_char_name` reads back).
    """
    parts = [c if c.isprintable() and c not in _UNSAFE else _encode(c) for c in name]
    if parts and parts[0] in (".", " "):
        parts[0] = _encode(parts[0])
    if parts and parts[-1] in (".", " "):
        parts[-1] = _encode(parts[-1])
    safe = "".join(parts) or "_"
    if len(safe.encode("utf-8")) > _MAX_BYTES:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        cut = safe.encode("utf-8")[:_MAX_BYTES - 11].decode("utf-8", "ignore")
        safe = f"{cut}~{digest}"
    return safe


def char_file_name(ch: str, suffix: str = ".png") -> str:
    """The file name of a character's image: ``永.png``, or ``U+002F.png`` for an unsafe one."""
    return safe_name(ch) + suffix


def inside(root: str | Path, *parts: str) -> Path:
    """``root / part / ...`` with each part made safe, checked to stay inside ``root``.

    :raises GlyphError: if the result would lie outside ``root`` (safe parts cannot, but a symlink already in
        the output folder can).
    """
    base = Path(root)
    path = base.joinpath(*(safe_name(p) for p in parts))
    real_base = os.path.realpath(base)
    real = os.path.realpath(path)
    if os.path.commonpath([real_base, real]) != real_base:
        raise GlyphError(f"refusing to write {path}: it lies outside the output folder {base}")
    return path


def check_output_dir(path: str | Path, option: str = "--out", new: bool = True) -> Path:
    """Check before work starts that ``path`` can become an output folder; return it as a Path.

    It must not be a file, must be empty when ``new`` (so nothing is overwritten or mixed in), and its
    nearest existing ancestor must be a writable folder.

    :raises GlyphError: one line naming the option, the path and what to do.
    """
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise GlyphError(f"{option} {p} is a file; give a folder{' (new or empty)' if new else ''}")
    if p.is_dir():
        if new and any(p.iterdir()):
            raise GlyphError(f"{option} {p} exists and is not an empty folder; choose a new folder so nothing is "
                             f"overwritten")
        if not os.access(p, os.W_OK | os.X_OK):
            raise GlyphError(f"{option} {p}: permission denied; choose a folder you can write to")
        return p
    _check_parent(p, option)
    return p


def check_output_file(path: str | Path, option: str = "--out", image: bool = False) -> Path:
    """Check before work starts that the file ``path`` can be written; return it as a Path.

    :param image: the file is an image: its name must end in an image suffix (``--out newdir/`` arrives as
        ``newdir`` and must not become a file of that name).
    :raises GlyphError: when ``path`` is a folder or its folder cannot be created or written.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise GlyphError(f"{option} {p} is a folder; give a file name")
    if image:
        from .imageio import IMAGE_SUFFIXES

        if p.suffix.lower() not in IMAGE_SUFFIXES:
            raise GlyphError(f"{option} {p}: give an image file name, such as {p.name or 'out'}.png")
    if p.exists() and not os.access(p, os.W_OK):
        raise GlyphError(f"{option} {p}: permission denied; choose a file you can write to")
    _check_parent(p, option)
    return p


def _check_parent(p: Path, option: str) -> None:
    """The nearest existing ancestor of ``p`` must be a folder glyph can create entries in."""
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise GlyphError(f"{option} {p}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise GlyphError(f"{option} {p}: cannot write in {parent} (permission denied)")
