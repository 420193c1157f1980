"""Uploads into glyph studio: what a browser sends is untrusted, so every file is capped in bytes while it
arrives, recognised by its first bytes (not its name or declared type), decoded only through
:func:`glyph.imageio.read_image` (which refuses more than :data:`glyph.imageio.MAX_PIXELS` pixels before decoding,
so a decompression bomb never allocates), and stored under a name glyph makes up. The name the browser gave is
used only to read the character from it (``永.jpg``) and to show it back.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import GlyphError

# The first bytes of every format glyph reads -> the suffix it is stored under.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)
FORMATS = "PNG, JPEG, WebP, GIF, BMP or TIFF"


@dataclass(frozen=True)
class Limits:
    """What one studio accepts. The defaults fit a writer's 64 phone photos with room to spare.

    :param file_bytes: the largest single upload.
    :param request_bytes: the largest request body (all its files together); larger ones are cut off as they arrive.
    :param files: the most files in one request.
    :param refs: the most references a session holds (dsfgan reads at most 64).
    :param text_chars: the longest text to write.
    :param session_bytes: disk a session may fill (uploads and results); older results are removed first.
    :param idle_seconds: a session untouched this long is removed with its files.
    :param sessions: the most sessions at once; the least recently used is removed for a new one.
    :param queue: the most jobs waiting; more are refused with a "busy, try again" message.
    """

    file_bytes: int = 20 * 1024 * 1024
    request_bytes: int = 160 * 1024 * 1024
    files: int = 64
    refs: int = 64
    text_chars: int = 8000
    session_bytes: int = 512 * 1024 * 1024
    idle_seconds: float = 2 * 3600
    sessions: int = 64
    queue: int = 64


def size_text(n: int) -> str:
    """A byte count as people read it: ``20 MB``, ``4 kB``."""
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} kB"


class UploadError(GlyphError):
    """An upload glyph will not take (too large, not an image); the message names the file and says why."""


def display_name(name: str | None) -> str:
    """The last component of a browser-given file name, without control characters, at most 80 characters:
    safe to show and to read a character from, never used as a path."""
    raw = name or "upload"
    base = PureWindowsPath(PurePosixPath(raw).name).name or "upload"
    clean = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return (clean or "upload")[:80]


def sniff(head: bytes) -> str | None:
    """The suffix for an image recognised by its first bytes (``.png``, ``.jpg``...), or None."""
    for magic, suffix in _MAGIC:
        if head.startswith(magic):
            return suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return None


async def save_upload(upload: Any, folder: Path, stem: str, limits: Limits) -> Path:
    """Copy one uploaded file (a Starlette ``UploadFile``) to ``folder/stem + suffix``, whole or not at all.

    :raises UploadError: the file is larger than ``limits.file_bytes``, empty, or not an image by its first bytes.
    """
    name = display_name(getattr(upload, "filename", None))
    head = await upload.read(16)
    if not head:
        raise UploadError(f"{name}: empty file (0 bytes)")
    suffix = sniff(head)
    if suffix is None:
        raise UploadError(f"{name}: not an image glyph can read; upload a {FORMATS} file")
    target = folder / f"{stem}{suffix}"
    partial = folder / f".{stem}.part"
    size = len(head)
    try:
        with open(partial, "wb") as fh:
            fh.write(head)
            while chunk := await upload.read(1024 * 1024):
                size += len(chunk)
                if size > limits.file_bytes:
                    raise UploadError(f"{name}: larger than {size_text(limits.file_bytes)}; send a smaller photo "
                                      f"(a glyph needs only a few hundred pixels a side)")
                fh.write(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def read_checked(path: Path, name: str) -> tuple[Any, str]:
    """Decode a stored upload through :func:`glyph.imageio.read_image`, its messages naming the browser's file name.

    :raises UploadError: unreadable, truncated, or more pixels than glyph accepts (a decompression bomb).
    """
    from ..imageio import ImageReadError, read_image

    try:
        return read_image(path)
    except ImageReadError as e:
        msg = str(e)
        prefix = f"{path}: "
        raise UploadError(f"{name}: {msg[len(prefix):] if msg.startswith(prefix) else msg}") from None
