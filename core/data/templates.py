"""Template glyphs: the standard content font (Noto Sans CJK SC Regular) drawn the way training data is.

Conditional methods (dsfgan, restorecae) and typesetting need the standard-font glyph of any
character at run time, on machines without the font installed. glyph ships the 6,763 GB2312 hanzi
at 64 px (``fit="box"``, as datasets are rendered) and common full-width punctuation (``fit="em"``,
so a comma keeps its size and place on the line), built by ``python -m glyph.data.templates``.
Characters outside that set, or other sizes, are rendered from the installed face when it is there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import GlyphError

SIZE = 64
BUNDLE = "templates/noto-sans-sc-64.safetensors.gz"
# Full-width punctuation a Chinese or Japanese text uses; typeset from the template font, not stylised.
PUNCTUATION = "，。、；：？！「」『』（）《》〈〉“”‘’—…·～【】"
BOX, EM = "box", "em"


def bundle_path() -> Path:
    """Where the bundled template glyphs live inside the package."""
    return Path(str(resources.files("glyph") / "assets" / BUNDLE))


@dataclass
class Templates:
    """Template glyphs found for a request: uint8 ``[size, size]`` arrays (255 = ink) by character."""

    glyphs: dict[str, np.ndarray] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _bundle() -> dict[str, dict[str, np.ndarray]]:
    from .packed import load_packed

    path = bundle_path()
    if not path.is_file():
        return {BOX: {}, EM: {}}
    data = load_packed(path)
    out: dict[str, dict[str, np.ndarray]] = {BOX: {}, EM: {}}
    images = data.images[:, 0].numpy()
    for img, ch, fit in zip(images, data.label_names("char"), data.label_names("writer"), strict=True):
        out[fit][ch] = img
    return out


def _render(chars: list[str], size: int, fit: str) -> Templates:
    from .fonts import standard_content_face
    from .render import RenderSpec, render_faces

    face = standard_content_face()
    if not face.path.is_file():
        return Templates(missing=list(chars))
    (result,) = render_faces([face], chars, RenderSpec(size=size, fit=fit), workers=1)  # type: ignore[arg-type]
    glyphs = dict(zip(result.chars, result.images, strict=True))
    return Templates(glyphs, [c for c in chars if c not in glyphs])


def _render_in_place(chars: list[str], size: int, margin: float = 0.06) -> Templates:
    """Draw ``chars`` where the font puts them in the em square (a comma low left), not centred."""
    from PIL import Image, ImageDraw, ImageFont

    from .fonts import standard_content_face

    face = standard_content_face()
    if not face.path.is_file():
        return Templates(missing=list(chars))
    px = round(size * (1 - 2 * margin))
    font = ImageFont.truetype(str(face.path), px, index=face.index)
    ascent = 0.88 * px  # Noto/Source Han: the ideographic em box spans 0.88 em above the baseline
    glyphs = {}
    for ch in chars:
        im = Image.new("L", (size, size), 0)
        ImageDraw.Draw(im).text((size * margin, size * margin + ascent), ch, font=font, fill=255, anchor="ls")
        if im.getbbox() is not None:
            glyphs[ch] = np.asarray(im)
    return Templates(glyphs, [c for c in chars if c not in glyphs])


def template_glyphs(chars: list[str] | str, size: int = SIZE, fit: str = BOX) -> Templates:
    """The standard-font glyph of each character (bundled first, then the installed font).

    :param chars: the characters wanted (duplicates are looked up once).
    :param size: canvas size; the bundle holds 64 px, other sizes need the installed font.
    :param fit: ``box`` (as training data) or ``em`` (drawn where the font puts it: punctuation keeps its place).
    :returns: the glyphs found and, in order, the characters neither source has.
    """
    if fit not in (BOX, EM):
        raise GlyphError(f"template fit must be '{BOX}' or '{EM}', got '{fit}'")
    wanted = list(dict.fromkeys(chars))
    bundled = _bundle()[fit] if size == SIZE else {}
    found = {c: bundled[c] for c in wanted if c in bundled}
    rest = [c for c in wanted if c not in found]
    if rest:
        rendered = _render(rest, size, fit) if fit == BOX else _render_in_place(rest, size)
        found.update(rendered.glyphs)
    return Templates(found, [c for c in wanted if c not in found])


def build_bundle(out: Path | None = None) -> Path:
    """Render the bundle from the installed standard face (needs fonts-noto-cjk); deterministic bytes."""
    import torch

    from ..dataset import GlyphData
    from . import INK_GLYPH
    from .charsets import load_charset
    from .fonts import standard_content_face
    from .packed import save_packed

    face = standard_content_face()
    if not face.path.is_file():
        raise GlyphError(f"the standard content face is not installed ({face.path}); install the Debian package "
                         f"fonts-noto-cjk")
    hanzi = _render(list(load_charset("gb2312").chars), SIZE, BOX)
    punct = _render_in_place(list(PUNCTUATION), SIZE)
    if hanzi.missing or punct.missing:
        raise GlyphError(f"{face.family} lacks {''.join(hanzi.missing + punct.missing)}; is it the right font?")
    chars = list(hanzi.glyphs) + list(punct.glyphs)
    images = np.stack(list(hanzi.glyphs.values()) + list(punct.glyphs.values()))
    fits = [0] * len(hanzi.glyphs) + [1] * len(punct.glyphs)
    data = GlyphData(torch.from_numpy(images).unsqueeze(1),
                     {"char": torch.arange(len(chars)), "writer": torch.tensor(fits)},
                     {"char": chars, "writer": [BOX, EM]},
                     {"ink": INK_GLYPH, "source": "fonts", "font": face.id, "render": {"size": SIZE, "margin": 0.06}})
    return save_packed(data, out or bundle_path())


if __name__ == "__main__":
    print(build_bundle())
