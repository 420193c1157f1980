"""Property tests (Hypothesis) of the parsers that read what users type or hand in.

Charset specs and charset files, ``--set key=value`` (and the values of a ``--config`` file), sheet grids and the
characters a sheet's text or a reference file's name gives: whatever the input, the result is valid or a
:class:`GlyphError` with a one-line message, never another exception and never a hang.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import os
import time
import unicodedata
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glyph.errors import GlyphError

# No example database: nothing is written into the repository, and a run is as reproducible as its seed.
FAST = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW = settings(FAST, max_examples=40)  # each example writes files or slices a sheet

# Pieces that have broken parsers before: path syntax, control characters, numbers int() or float() trip on.
TRICKY = ["/", "..", ".", "~", "\x00", "\n", "\t", " ", "=", "_", "-", "x", "X", "×", ",", "(", ")", "[", "]",
          "U+", "u", "6C38", "D800", "110000", ".txt", ".json", "common-", "gb2312-1", "gb2312", "jis-1",
          "train.", "a.b.c", "1e400", "-1e400", "nan", "inf", "-inf", "-1", "0", "1_000", "9" * 5000, "²", "١٢",
          "１２", "0x10", "none", "true", "永", "\ufeff", "\u200b", "\udcff", "\ud800"]
# Any code point, surrogates included (a byte of argv or a file name that is not UTF-8 arrives as one).
ANY_CHAR = st.characters(exclude_categories=())
TEXT = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(ANY_CHAR, max_size=8)), max_size=8).map("".join)


def one_line(e: GlyphError) -> str:
    msg = str(e)
    assert msg and "\n" not in msg and "\r" not in msg, msg
    return msg


def drawable(chars: list[str]) -> None:
    """A charset's characters: single code points, unique, none a control character or a surrogate."""
    assert chars and all(isinstance(c, str) and len(c) == 1 for c in chars)
    assert len(set(chars)) == len(chars)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in chars)


@pytest.fixture
def empty_dir(tmp_path, monkeypatch):
    """Run in an empty folder, so a random spec that looks like a relative path finds no file."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------------------------------------------------
# Charsets
# ---------------------------------------------------------------------------------------------------------------


@FAST
@given(spec=TEXT)
def test_any_charset_spec_gives_a_charset_or_a_glyph_error(empty_dir, spec):
    from glyph.data.charsets import load_charset

    try:
        cs = load_charset(spec)
    except GlyphError as e:
        one_line(e)
        return
    drawable(cs.chars)
    if cs.name == "custom":  # a literal string: its non-space characters, first occurrence, in order
        assert cs.chars == list(dict.fromkeys(c for c in spec if not c.isspace()))
    assert cs.index == {c: i for i, c in enumerate(cs.chars)}


@FAST
@given(n=st.one_of(st.integers(), st.sampled_from(["0", "00", "3756", "9" * 5000, "٣", "²", "-5", " 5"])))
def test_common_n(n):
    from glyph.data.charsets import load_charset

    try:
        cs = load_charset(f"common-{n}")
    except GlyphError as e:
        assert "between 1 and 3755" in one_line(e) or "unknown charset" in str(e) or "empty" in str(e)
        return
    assert 1 <= len(cs) <= 3755
    drawable(cs.chars)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=6),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                    max_leaves=10)
CHARSET_JSON = st.fixed_dictionaries({"chars": JSON | st.text(ANY_CHAR, max_size=12)},
                                     optional={"name": JSON, "size": JSON})


def _encodes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


FILE_BYTES = st.one_of(
    st.binary(max_size=64),  # mostly not UTF-8
    TEXT.map(_encodes),
    st.text(max_size=40).map(lambda t: t.encode("utf-8")),
    st.text(max_size=40).map(lambda t: t.encode("utf-16")),
    st.text(max_size=20).map(lambda t: b"\xef\xbb\xbf" + t.encode("utf-8")),  # a byte-order mark
    JSON.map(lambda v: json.dumps(v).encode()),
    CHARSET_JSON.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.sampled_from([b"[" * 100_000, b"{" * 10, b"", b"\n \t", b"\x00", b"\xed\xa0\x80"]),
)


@SLOW
@given(data=FILE_BYTES, suffix=st.sampled_from([".txt", ".json"]))
def test_any_charset_file_gives_a_charset_or_a_glyph_error_naming_it(tmp_path_factory, data, suffix):
    from glyph.data.charsets import load_charset

    path = tmp_path_factory.getbasetemp() / f"mine{suffix}"
    path.write_bytes(data)
    try:
        cs = load_charset(str(path))
    except GlyphError as e:
        assert path.name in one_line(e)
        return
    drawable(cs.chars)
    if suffix == ".txt":
        assert cs.name == "mine"
        text = data.decode("utf-8-sig")
        assert cs.chars == list(dict.fromkeys(c for c in text if not c.isspace()))
    again = type(cs).from_json(cs.to_json())  # what a dataset saves reads back, and encodes as UTF-8
    assert again.chars == cs.chars
    cs.to_json().encode("utf-8")


def test_charset_file_that_is_not_a_file(tmp_path):
    from glyph.data.charsets import load_charset

    (tmp_path / "d.txt").mkdir()
    with pytest.raises(GlyphError, match="is not a file"):
        load_charset(str(tmp_path / "d.txt"))
    with pytest.raises(GlyphError, match="does not exist"):
        load_charset(str(tmp_path / "n\x00.txt"))
    with pytest.raises(GlyphError, match=r"not UTF-8 text.*0xFF"):
        (tmp_path / "b.txt").write_bytes(b"\xff\xfe\x00")
        load_charset(str(tmp_path / "b.txt"))
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbf\xe6\xb0\xb8")  # Notepad's UTF-8: a BOM, then 永
    assert load_charset(str(tmp_path / "bom.txt")).chars == ["永"]


# ---------------------------------------------------------------------------------------------------------------
# Names of characters: reference files (永_2.jpg, U+6C38.png) and the names glyph writes
# ---------------------------------------------------------------------------------------------------------------


@FAST
@given(stem=TEXT, allow_any=st.booleans())
def test_any_file_name_names_one_character_or_none(stem, allow_any):
    from glyph.data.charsets import parse_char_name
    from glyph.data.refs import char_from_filename

    for ch in (parse_char_name(stem), char_from_filename(stem, allow_any=allow_any)):
        assert ch is None or (len(ch) == 1 and unicodedata.category(ch) != "Cs")


@FAST
@given(ch=st.characters(exclude_categories=("Cs",)))
def test_safe_names_read_back(ch):
    from glyph.data.charsets import parse_char_name
    from glyph.paths import safe_name

    name = safe_name(ch)
    assert "/" not in name and name not in (".", "..") and len(name.encode()) <= 200
    if name.startswith("U+") or not (ch.isascii() or ch.isspace() or ch == "_"):
        assert parse_char_name(name) == ch


def test_long_file_names_are_quick():
    from glyph.data.charsets import parse_char_name
    from glyph.data.refs import char_from_filename

    t = time.perf_counter()
    for stem in ("_" * 100_000, "-" * 50_000 + "x", "永" + " " * 100_000 + "(", "9" * 100_000, "U+" + "0" * 100_000):
        assert char_from_filename(stem) is None
        parse_char_name(stem)
    assert time.perf_counter() - t < 2


# ---------------------------------------------------------------------------------------------------------------
# --set key=value and config values
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Every:
    """One field of each type a method's Config uses."""

    steps: int = 10
    lr: float = 1e-3
    shift: float = dataclasses.field(default=0.0, metadata={"min": None})
    ema: bool = True
    name: str = "x"
    init_from: Path | None = None
    loss: Literal["bce", "hinge"] = "bce"
    widths: tuple[int, ...] = (8, 16)
    betas: tuple[float, ...] = (0.5, 0.99)
    note: str | None = None
    ratio: float | None = None


SET_ITEM = st.one_of(TEXT, st.tuples(st.sampled_from([f.name for f in dataclasses.fields(Every)] + ["train.x", ""]),
                                     TEXT).map("=".join))
RAW_VALUE = st.one_of(  # values as TOML or a run's config.json hand them in
    st.none(), st.booleans(), st.integers(), st.integers(-(10**400), 10**400).map(lambda i: i**3), st.floats(),
    st.text(ANY_CHAR, max_size=10), st.lists(st.integers() | st.floats() | st.text(max_size=3), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _round_trips(new, cls) -> None:
    """What a run folder saves reads back equal: config.json is UTF-8 JSON without NaN."""
    from glyph.config import apply_overrides, config_to_dict

    text = json.dumps(config_to_dict(new), ensure_ascii=False, allow_nan=False)
    assert apply_overrides(cls(), json.loads(text.encode("utf-8")), "config.json") == new


@FAST
@given(items=st.lists(SET_ITEM, max_size=4))
def test_any_set_item_gives_a_valid_config_or_a_glyph_error(items):
    from glyph.config import apply_overrides, parse_sets

    try:
        method, _ = parse_sets(items)
        new = apply_overrides(Every(), method, "--set")
    except GlyphError as e:
        one_line(e)
        return
    assert all("=" in i for i in items) and set(method) <= {f.name for f in dataclasses.fields(Every)}
    for key in method:
        value = getattr(new, key)
        if isinstance(value, int) and not isinstance(value, bool):
            assert -(2**63) <= value < 2**63
        if isinstance(value, float):
            assert np.isfinite(value)
    _round_trips(new, Every)


@FAST
@given(key=st.sampled_from([f.name for f in dataclasses.fields(Every)]) | st.text(max_size=5), value=RAW_VALUE)
def test_any_config_value_gives_a_valid_config_or_a_glyph_error(key, value):
    from glyph.config import apply_overrides

    try:
        new = apply_overrides(Every(), {key: value}, "--config c.toml")
    except GlyphError as e:
        one_line(e)
        return
    _round_trips(new, Every)


def test_dsfgan_heads_zero_is_a_glyph_error():
    """Found by the property below: validate() once computed dim % heads before checking heads >= 1."""
    from glyph.config import apply_overrides

    cls = dict(_configs())["method 'dsfgan'"]
    with pytest.raises(GlyphError, match="heads"):
        apply_overrides(cls(), {"heads": "0"}, "--set")


@functools.cache
def _configs() -> list[tuple[str, type]]:
    from glyph.loader import get_registry
    from glyph.trainer import TrainConfig

    out = [(f"method '{name}'", entry.obj.Config) for name, entry in sorted(get_registry().methods.items())]
    return [*out, ("train", TrainConfig)]


@FAST
@given(data=st.data())
def test_set_on_every_shipped_config(data):
    """Every field of every built-in method's Config (and the training loop's), given any text."""
    from glyph.config import apply_overrides

    what, cls = data.draw(st.sampled_from(_configs()), label="config")
    field = data.draw(st.sampled_from(dataclasses.fields(cls)), label="field")
    value = data.draw(TEXT | st.sampled_from(["0", "1", "2", "3", "7", "64", "-1", "0.5", "1e-9", "1,2", "()"]))
    try:
        new = apply_overrides(cls(), {field.name: value}, f"--set ({what})")
    except GlyphError as e:
        one_line(e)
        return
    _round_trips(new, cls)


# ---------------------------------------------------------------------------------------------------------------
# Sheets: --grid ROWSxCOLS, the text, and the file names of the references
# ---------------------------------------------------------------------------------------------------------------


@FAST
@given(spec=TEXT | st.builds("{}{}{}".format, st.integers(), st.sampled_from(["x", "X", "×", " x ", "by"]),
                             st.integers()))
def test_any_grid_spec_gives_rows_and_cols_or_a_glyph_error(spec):
    from glyph.data.refs import parse_grid

    try:
        rows, cols = parse_grid(spec)
    except GlyphError as e:
        one_line(e)
        return
    assert 1 <= rows < 10_000 and 1 <= cols < 10_000


def _sheet() -> np.ndarray:
    """Six crosses in 2 rows of 3 on paper (1.0 = paper), as read_image returns a greyscale photo."""
    a = np.ones((90, 120), np.float32)
    for r, c in itertools.product(range(2), range(3)):
        y, x = 15 + r * 40, 15 + c * 35
        a[y:y + 20, x + 8:x + 11] = 0
        a[y + 8:y + 11, x:x + 20] = 0
    return a


SHEET = _sheet()


@SLOW
@given(text=TEXT | st.text(ANY_CHAR, min_size=1, max_size=8),
       grid=st.none() | st.tuples(st.integers() | st.integers(-3, 10), st.integers() | st.integers(-3, 10)))
def test_any_sheet_text_and_grid_gives_references_or_a_glyph_error(text, grid):
    from glyph.data.refs import slice_sheet

    try:
        refs = slice_sheet(SHEET, "L", text, grid=grid, size=8)
    except GlyphError as e:
        one_line(e)
        return
    n = sum(not c.isspace() for c in text)
    assert len(refs) + len(refs.skipped) == n and refs.images.shape == (len(refs), 8, 8)


_outs = itertools.count()


@SLOW
@given(text=TEXT)
def test_sheet_file_names_stay_inside_and_are_unique(tmp_path_factory, text):
    from glyph.data.refs import RefSet, write_refset

    chars = [c for c in text if not c.isspace()]
    out = tmp_path_factory.getbasetemp() / f"refs{next(_outs)}"
    write_refset(RefSet(np.zeros((len(chars), 4, 4), np.uint8), chars), out)
    if not chars:
        return
    written = list(out.iterdir())
    assert len(written) == len(chars)  # one file each: no two characters share a name
    root = os.path.realpath(out)
    assert all(os.path.dirname(os.path.realpath(p)) == root and p.is_file() for p in written)
