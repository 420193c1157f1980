"""Character sets with stable class indices, built in with no downloads.

Built-ins: ``gb2312-1`` (3,755 level-1 hanzi), ``gb2312`` (all 6,763 hanzi, the calligraphy dataset's set),
``jis-1`` (2,965 JIS X 0208 level-1 kanji), ``common-N`` (the N most frequent level-1 hanzi). Any other
spec is either a path to a text file or a literal string of characters. The class index of a character is
its position in the set; sets are saved as readable JSON (never pickles).

Specs and files come from users, so every malformed one ends in a :class:`GlyphError` that names it: a file that
is not UTF-8, an empty set, a control character or an undecodable byte (a surrogate) where a character belongs.
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
_NAMED = ("gb2312-1", "gb2312", "jis-1")
_HINT = f"use {', '.join(BUILTIN)}, a UTF-8 text file or a string of characters"


def _show(text: str, limit: int = 80) -> str:
    """``text`` quoted for a one-line message: control characters escaped, a long value shortened."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[:limit - 20]}...{r[-15:]} ({len(text)} characters)"


def check_chars(chars: list[str], where: str) -> list[str]:
    """Return ``chars`` when each is one drawable character; refuse control characters and surrogates.

    A surrogate (U+D800-U+DFFF) is how Python carries a byte that was not UTF-8 (a file name or a terminal in
    another encoding); it cannot be written as UTF-8, so a charset holding one would fail when saved.

    :param where: what held the characters, for the message (``"charset file 'mine.txt'"``).
    :raises GlyphError: naming the first bad character, its position and what to do.
    """
    for i, ch in enumerate(chars):
        if not isinstance(ch, str) or len(ch) != 1:
            raise GlyphError(f"{where}: entry {i + 1} is {_show(str(ch))}, not one character; list single characters")
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs"):
            what = "a control character" if cat == "Cc" else "an undecodable byte (text that is not UTF-8?)"
            raise GlyphError(f"{where}: character {i + 1} is {what}, U+{ord(ch):04X}; remove it or save the text "
                             f"as UTF-8")
    return chars


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
    def from_json(cls, text: str, where: str = "charset JSON") -> Charset:
        """Inverse of :meth:`to_json`.

        :param where: what the text came from, for messages.
        :raises GlyphError: for text that is not such JSON, or holds no or no valid characters.
        """
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise GlyphError(f"{where} is not valid JSON ({str(e).splitlines()[0]}); write it as "
                             f'{{"name": "mine", "chars": "永和九年"}}') from None
        chars = data.get("chars") if isinstance(data, dict) else None
        if not isinstance(chars, (str, list)) or not chars:
            raise GlyphError(f'{where}: expected {{"name": "mine", "chars": "永和九年"}} with at least one '
                             f"character, as glyph writes it")
        name = data.get("name")
        return cls(name if isinstance(name, str) else "custom", check_chars(list(chars), where))


def load_charset(spec: str) -> Charset:
    """Resolve ``spec``: a built-in name, ``common-N``, a text file (its non-space characters), or a string.

    :raises GlyphError: for an empty set, a ``common-N`` beyond the 3,755 known frequencies, a file that is missing
        or not UTF-8 text, and control characters or undecodable bytes (surrogates) among the characters.
    """
    spec = spec.strip()
    if spec in _NAMED:
        return Charset(spec, list(_builtin(spec)))
    m = re.fullmatch(r"common-(\d+)", spec)
    if m:
        order = frequency_order()
        digits = m.group(1)  # any decimal digits int() reads; a long run is out of range (and int() would refuse it)
        n = int(digits) if len(digits) <= 9 else 0
        if not 1 <= n <= len(order):
            raise GlyphError(f"charset {_show(spec)}: N must be between 1 and {len(order)}, e.g. common-500")
        return Charset(spec, list(order[:n]))
    if len(spec) < 4096 and ("/" in spec or spec.endswith((".txt", ".json"))):
        return _load_file(spec)
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", spec):  # a name, not a string of characters to use
        raise GlyphError(f"unknown charset {_show(spec)}{did_you_mean(spec, [*_NAMED, 'common-500'])}; {_HINT}")
    chars = [c for c in spec if not c.isspace()]
    if not chars:
        raise GlyphError(f"charset {_show(spec)} is empty; {_HINT}")
    return Charset("custom", check_chars(chars, f"charset {_show(spec)}"))


def _load_file(spec: str) -> Charset:
    """A charset file: JSON as :meth:`Charset.to_json` writes it, or UTF-8 text whose non-space characters count."""
    try:
        path = Path(spec).expanduser()
    except (RuntimeError, ValueError):  # '~user/...' for no such user, or a NUL byte: not a file we can name
        path = Path(spec)
    where = f"charset file {_show(spec)}"
    try:
        # A regular file only: a folder, a FIFO or /dev/stdin would fail or wait forever.
        if not path.is_file():  # False for a missing file and for a name with a NUL byte
            raise GlyphError(f"{where} {'is not a file' if path.exists() else 'does not exist'}; give a text file, "
                             f"a string of characters, or one of {', '.join(BUILTIN)}")
        raw = path.read_bytes()
    except OSError as e:  # no permission, a name too long, a file gone since...
        raise GlyphError(f"{where}: cannot read it ({e.strerror or type(e).__name__}); give a readable text "
                         f"file") from None
    try:
        text = raw.decode("utf-8-sig")  # -sig: Windows editors start UTF-8 files with a byte-order mark
    except UnicodeDecodeError as e:
        raise GlyphError(f"{where} is not UTF-8 text (byte 0x{raw[e.start]:02X} at offset {e.start}); save it as "
                         f"UTF-8 with the characters to use") from None
    if path.suffix == ".json":
        return Charset.from_json(text, where)
    chars = [c for c in text if not c.isspace()]
    if not chars:
        raise GlyphError(f"{where} holds no characters; write the characters to use in it")
    return Charset(path.stem, check_chars(chars, where))


def parse_char_name(stem: str) -> str | None:
    """The character a file stem names: the character itself, ``U+6C38`` or a decimal GB2312 code.

    Decimal codes are what the published DSF-GAN data uses (48583 = 0xBDC7 = 角). A suffix after
    ``_`` (``永_2``) is ignored. Returns None when the stem names no single character.
    """
    base = re.split(r"[_\s]", stem.strip(), maxsplit=1)[0]
    if len(base) == 1 and not base.isascii():
        # A surrogate is a byte of a file name that was not UTF-8, not a character.
        return None if unicodedata.category(base) == "Cs" else base
    m = re.fullmatch(r"[Uu]\+?([0-9A-Fa-f]{4,6})", base)
    if m:
        cp = int(m.group(1), 16)
        return chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else None
    # ASCII digits only: str.isdigit() also accepts '²', which int() refuses, and a long run int() refuses too.
    if base.isascii() and base.isdigit() and len(base) <= 5 and 0xA1A1 <= int(base) <= 0xF7FE:
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
