"""Reading and writing images safely: one clear error per bad file, outputs whole or not at all.

Pixels inside glyph are floats in [0, 1] (H x W for grayscale, H x W x C for colour). Reading
accepts any Pillow mode (palette, 16-bit, alpha) and applies EXIF rotation; writing goes through a
temporary file in the target folder, fsync and an atomic rename, so a full disk or Ctrl-C never
leaves a half-written image behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import GlyphError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# Far above any glyph or painting; refuses decompression bombs instead of allocating gigabytes.
MAX_PIXELS = 40_000_000


class ImageReadError(GlyphError):
    """A file that is not a readable image (missing, empty, truncated, not an image, too large)."""


def read_image(path: str | Path, note: Callable[[str], None] | None = None) -> tuple[np.ndarray, str]:
    """Read ``path`` as floats in [0,1] and return ``(array, kind)``.

    ``kind`` is ``"L"`` (H x W), ``"LA"``, ``"RGB"`` or ``"RGBA"`` (H x W x C), normalising palette,
    1-bit and 16-bit files; EXIF orientation is applied. Of an animated file only the first frame is
    read, and ``note`` (when given) is told so in one line.

    :raises ImageReadError: with a one-line reason for any unreadable file.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageReadError(f"{p}: no such file") from None
    except (OSError, RuntimeError) as e:
        raise ImageReadError(f"{p}: cannot read it ({_why(e)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageReadError(f"{p}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageReadError(f"{p}: not a regular file (a FIFO, socket or device)")
    if st.st_size == 0:
        raise ImageReadError(f"{p}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ImageReadError(
                        f"{p}: {im.width}x{im.height} pixels is larger than glyph accepts "
                        f"({MAX_PIXELS:,}); downscale it first"
                    )
                im.load()
                frames = getattr(im, "n_frames", 1)
                if frames > 1 and note is not None:
                    note(f"{p}: an animation of {frames} frames; only the first frame is used")
                im = ImageOps.exif_transpose(im)
                return _to_array(im)
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow refuses these before glyph's own check sees the size; its message holds the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found[1]):,} pixels" if found else "its size"
        raise ImageReadError(f"{p}: {size} is more than glyph accepts ({MAX_PIXELS:,}; a possible decompression "
                             f"bomb); downscale it first") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image Pillow can read") from None
    except PermissionError:
        raise ImageReadError(f"{p}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{p}: unreadable image ({e})") from None


def _to_array(im: Image.Image) -> tuple[np.ndarray, str]:
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        return np.clip(a / top, 0, 1).astype(np.float32), "L"
    if mode == "F":
        a = np.asarray(im, dtype=np.float32)
        return np.clip(a / (255.0 if a.max() > 1 else 1.0), 0, 1), "L"
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGB")
    return np.asarray(im, dtype=np.float32) / 255.0, im.mode


def pixels_of(im: Image.Image) -> tuple[np.ndarray, str]:
    """A PIL image as :func:`read_image` returns a file: floats in [0, 1] and one of L, LA, RGB, RGBA."""
    return _to_array(im)


def to_pil(image: Any) -> Image.Image:
    """Convert floats in [0,1] (H x W, H x W x 1/2/3/4, or a CHW torch tensor) or a PIL image to PIL."""
    if isinstance(image, Image.Image):
        return image
    if hasattr(image, "detach"):  # torch tensor, C x H x W
        image = image.detach().float().cpu().numpy()
        if image.ndim == 3:
            image = np.moveaxis(image, 0, -1)
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ValueError(f"cannot save an array of shape {a.shape} as an image")
    a8 = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    mode = {2: "L"}.get(a.ndim) or {2: "LA", 3: "RGB", 4: "RGBA"}[a.shape[2]]
    return Image.fromarray(a8, mode)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync and rename it into place.

    On any exception (including KeyboardInterrupt and a full disk) the temporary file is removed
    and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_image(path: str | Path, image: Any) -> None:
    """Write an image atomically; the format follows the suffix (PNG when there is none known)."""
    target = Path(path)
    im = to_pil(image)
    fmt = Image.registered_extensions().get(target.suffix.lower(), "PNG")
    if fmt == "JPEG" and im.mode in ("LA", "RGBA"):
        im = im.convert(im.mode[:-1])  # JPEG has no alpha channel
    params = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    try:
        with atomic_output(target) as tmp:
            im.save(tmp, format=fmt, **params)
    except OSError as e:
        raise GlyphError(f"could not write {target}: {e.strerror or e}; check free space and permissions") from None


def list_images(root: str | Path, recursive: bool = True) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files under ``root`` (sorted) and ``(path, reason)`` for entries that were skipped.

    Symlinks that lead outside ``root`` are skipped (a folder of inputs must not reach elsewhere), and so
    are symlink loops, broken links, unreadable entries and anything that is not a regular file (a FIFO
    would block a read, a device would never end); hidden files and non-image suffixes are ignored
    silently; unreadable folders are reported.

    :raises GlyphError: when ``root`` itself cannot be listed.
    """
    base = Path(root)
    try:
        real_base = base.resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop before Python 3.13
        raise GlyphError(f"{base}: cannot open the folder ({_why(e)})") from None
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []

    def on_error(err: OSError) -> None:
        skipped.append((str(err.filename), f"cannot read folder ({err.strerror})"))

    if recursive:
        walker: Any = os.walk(base, onerror=on_error, followlinks=False)
    else:
        try:
            walker = [(str(base), [], sorted(os.listdir(base)))]
        except OSError as e:
            raise GlyphError(f"{base}: cannot list the folder ({_why(e)})") from None
    for dirpath, dirnames, filenames in walker:
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            why = _not_a_plain_file(p, real_base)
            if why:
                skipped.append((str(p), why))
                continue
            found.append(p)
    return found, skipped


def _why(e: BaseException) -> str:
    if isinstance(e, RuntimeError) or getattr(e, "errno", None) == errno.ELOOP:
        return "symlink loop"
    return getattr(e, "strerror", None) or str(e)


def _not_a_plain_file(p: Path, real_base: Path) -> str | None:
    """Why ``p`` cannot be read as an image file, or None when it is a regular file inside ``real_base``."""
    try:
        st = p.stat()  # follows links: a loop or a broken link fails here
    except (OSError, RuntimeError) as e:
        if isinstance(e, FileNotFoundError):
            return "broken symlink (its target does not exist); skipped"
        return f"cannot read it ({_why(e)}); skipped"
    if p.is_symlink():
        try:
            p.resolve(strict=True).relative_to(real_base)
        except (ValueError, OSError, RuntimeError):
            return "symlink leads outside the input folder; skipped"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not an image; skipped"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a FIFO, socket or device); skipped"
    if not os.access(p, os.R_OK):
        return "permission denied; skipped"
    return None
