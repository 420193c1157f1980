"""Character sets with stable class indices, built in with no downloads.

Built-ins: ``gb2312-1`` (3,755 level-1 hanzi), ``gb2312`` (all 6,763 hanzi, the calligraphy dataset's set),
``jis-1`` (2,965 JIS X 0208 level-1 kanji), ``common-N`` (the N most frequent level-1 hanzi). Any other
spec is either a path to a text file or a literal string of characters. The class index of a character is
its position in the set; sets are saved as readable JSON (never pickles).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

from ..errors import GlyphError, did_you_mean

BUILTIN = ("gb2312-1", "gb2312", "jis-1", "common-N")


def _euc_block(rows: range, codec: str) -> str:
    """Characters of 94x94 code rows ``rows`` (1-based ku) in a two-byte EUC ``codec``, in code order."""
    out = []
    for ku in rows:
        for ten in range(1, 95):
            try:
                out.append(bytes([ku + 0xA0, ten + 0xA0]).decode(codec))
            except UnicodeDecodeError:
                continue  # unassigned cells at the end of the last row
    return "".join(out)


@cache
def _builtin(name: str) -> str:
    if name == "gb2312-1":
        return _euc_block(range(16, 56), "gb2312")
    if name == "gb2312":
        return _euc_block(range(16, 88), "gb2312")
    if name == "jis-1":
        return _euc_block(range(16, 48), "euc_jp")
    raise KeyError(name)


@lru_cache(maxsize=1)
def frequency_order() -> str:
    """GB2312 level-1 characters, most frequent first (see charsets/README.md for the source)."""
    return (resources.files("glyph") / "data" / "charsets" / "gb2312-1-by-frequency.txt").read_text("utf-8").strip()


def is_cjk(ch: str) -> bool:
    """True for a CJK unified or compatibility ideograph (any extension)."""
    name = unicodedata.name(ch, "") if len(ch) == 1 else ""
    return name.startswith(("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH"))


@dataclass
class Charset:
    """An ordered set of characters; index = class id."""

    name: str
    chars: list[str]
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        seen: dict[str, int] = {}
        for ch in self.chars:
            seen.setdefault(ch, len(seen))
        self.chars = list(seen)
        self.index = seen

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self.index

    def to_json(self) -> str:
        """Readable JSON: name, size and the characters in class order."""
        return json.dumps({"name": self.name, "size": len(self.chars), "chars": "".join(self.chars)},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Charset:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(data["name"], list(data["chars"]))


def load_charset(spec: str) -> Charset:
    """Resolve ``spec``: a built-in name, ``common-N``, a text file (its non-space characters), or a string.

    :raises GlyphError: for an empty set or a ``common-N`` beyond the 3,755 known frequencies.
    """
    spec = spec.strip()
    if spec in ("gb2312-1", "gb2312", "jis-1"):
        return Charset(spec, list(_builtin(spec)))
    m = re.fullmatch(r"common-(\d+)", spec)
    if m:
        n = int(m.group(1))
        order = frequency_order()
        if not 1 <= n <= len(order):
            raise GlyphError(f"charset {spec}: N must be between 1 and {len(order)}")
        return Charset(spec, list(order[:n]))
    path = Path(spec).expanduser()
    if len(spec) < 4096 and ("/" in spec or spec.endswith((".txt", ".json"))):
        if not path.is_file():
            raise GlyphError(f"charset file {spec} does not exist; give a file, a string of characters, "
                             f"or one of {', '.join(BUILTIN)}")
        text = path.read_text("utf-8")
        if path.suffix == ".json":
            return Charset.from_json(text)
        return Charset(path.stem, [c for c in text if not c.isspace()])
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", spec):  # a name, not a string of characters to use
        raise GlyphError(f"unknown charset '{spec}'{did_you_mean(spec, ['gb2312-1', 'gb2312', 'jis-1', 'common-500'])};"
                         f" use {', '.join(BUILTIN)}, a text file or a string of characters")
    chars = [c for c in spec if not c.isspace()]
    if not chars:
        raise GlyphError(f"charset {spec!r} is empty; use {', '.join(BUILTIN)}, a text file or a string of characters")
    return Charset("custom", chars)


def parse_char_name(stem: str) -> str | None:
    """The character a file stem names: the character itself, ``U+6C38`` or a decimal GB2312 code.

    Decimal codes are what the published DSF-GAN data uses (48583 = 0xBDC7 = 角). A suffix after
    ``_`` (``永_2``) is ignored. Returns None when the stem names no single character.
    """
    base = re.split(r"[_\s]", stem.strip(), maxsplit=1)[0]
    if len(base) == 1 and not base.isascii():
        return base
    m = re.fullmatch(r"[Uu]\+?([0-9A-Fa-f]{4,6})", base)
    if m:
        cp = int(m.group(1), 16)
        return chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else None
    if base.isdigit() and 0xA1A1 <= int(base) <= 0xF7FE:
        code = int(base)
        try:
            return bytes([code >> 8, code & 0xFF]).decode("gb2312")
        except UnicodeDecodeError:
            return None
    return None


def gb2312_code(ch: str) -> int | None:
    """The decimal GB2312 code of ``ch`` (DSF-GAN's file naming), or None outside GB2312."""
    try:
        b = ch.encode("gb2312")
    except UnicodeEncodeError:
        return None
    return (b[0] << 8) | b[1] if len(b) == 2 else None
