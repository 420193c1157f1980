"""Typed method configs: introspection for ``glyph info`` and validated overrides.

A method's ``Config`` is a dataclass whose field defaults are *the* defaults (one home per fact).
Presets (registry.toml), config files, ``--set key=value`` and a run folder's config.json are layers
of overrides applied by :func:`apply_overrides`, which rejects unknown keys, wrong types, non-finite or
negative numbers and timm model names that would be downloaded, with a message that names the field
and what it accepts.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from .errors import GlyphError, did_you_mean


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One config field as shown to users."""

    name: str
    type: str
    default: Any
    help: str


def type_name(tp: Any) -> str:
    """A short human name for a type annotation: ``int``, ``'dark' | 'light'``, ``float | None``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return f"{origin.__name__}[{', '.join(type_name(a) for a in args)}, ...]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


def _hints(config_cls: type) -> dict[str, Any]:
    if not dataclasses.is_dataclass(config_cls):
        raise TypeError(f"{config_cls!r} is not a dataclass; a method's Config must be one")
    return typing.get_type_hints(config_cls, include_extras=False)


def config_fields(config_cls: type) -> list[FieldInfo]:
    """Describe every field of a Config dataclass (name, type, default, help from ``metadata``)."""
    hints = _hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append(FieldInfo(f.name, type_name(hints[f.name]), default, f.metadata.get("help", "")))
    return out


# Config integers end up in torch and numpy (and in config.json), which hold 64 bits.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def show_value(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a one-line message: shortened when long, and safe for an int too long to print."""
    if isinstance(value, int) and not -(10**60) < value < 10**60:
        return f"an integer of {value.bit_length()} bits"  # repr() refuses ints over 4,300 digits
    r = repr(value)
    return r if len(r) <= limit else f"{r[:limit - 20]}...{r[-15:]}"


def _text(value: str, where: str) -> str:
    """Refuse control characters and surrogates (bytes that were not UTF-8) in a config string or path."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cs")), None)
    if bad is not None:
        raise GlyphError(f"{where}: {show_value(value)} holds U+{ord(bad):04X}, a control character or a byte "
                         f"that is not UTF-8; give plain text")
    return value


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert strings (from ``--set``) and lists (from TOML).

    Integers must fit in 64 bits, strings and paths hold no control characters (they reach file names and
    config.json); any other value that does not fit is refused too.

    :raises GlyphError: naming ``where`` and the accepted type when the value does not fit.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail() -> GlyphError:
        return GlyphError(f"{where}: expected {type_name(tp)}, got {show_value(value)}")

    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() == "none" and type(None) in args):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except GlyphError:
                continue
        raise fail()
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise GlyphError(f"{where}: expected one of {', '.join(repr(a) for a in args)}, got {show_value(value)}"
                         + (did_you_mean(value, [str(a) for a in args]) if isinstance(value, str) else ""))
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("()[] ").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise fail()
        inner = args[0] if args else Any
        items = [coerce(v, inner, where) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise fail()
    if tp is int:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, str):
            try:
                value = int(value.replace("_", ""))  # ValueError also past 4,300 digits
            except ValueError:
                raise fail() from None
        if not isinstance(value, int):
            raise fail()
        if not _INT_MIN <= value <= _INT_MAX:
            raise GlyphError(f"{where}: {show_value(value)} is beyond 64 bits; give an integer of at most 18 digits")
        return value
    if tp is float:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, str):
            try:
                return float(value)  # '1e400' is inf: check_number refuses it
            except ValueError:
                raise fail() from None
        if isinstance(value, (int, float)):
            try:
                return float(value)
            except OverflowError:  # an int beyond 1.8e308 (from TOML or Python)
                raise fail() from None
        raise fail()
    if tp is str:
        if isinstance(value, str):
            return _text(value, where)
        raise fail()
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(_text(str(value), where))
        raise fail()
    if isinstance(tp, type) and isinstance(value, tp):  # isinstance() refuses generics such as dict[str, int]
        return value
    raise fail()


def check_number(value: Any, where: str, low: float | None = 0, positive: bool = False) -> None:
    """Refuse NaN, infinity and numbers below ``low`` in a config value (a number or a tuple of them).

    ``float("nan")`` parses from ``--set lr=nan`` and would train NaN weights without an error, and a
    negative step count or interval silently means something else; so config numbers are finite and,
    unless a field says otherwise (``metadata={"min": -1.0}`` or ``{"min": None}``), not negative.

    :param positive: also refuse ``low`` itself (a learning rate or a batch of 0).
    :raises GlyphError: naming ``where``, the value seen and the accepted range.
    """
    if isinstance(value, (tuple, list)):
        for v in value:
            check_number(v, where, low, positive)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise GlyphError(f"{where}: expected a finite number, got {value!r}")
    if low is not None and (value < low or (positive and value == low)):
        raise GlyphError(f"{where}: must be {'above' if positive else 'at least'} {low:g}, got {show_value(value)}")


def _must_be_positive(name: str) -> bool:
    """Fields where 0 is as wrong as a negative number: learning rates and batch sizes."""
    return name == "lr" or name.startswith("lr_") or name.endswith("_lr") or name in ("batch", "batches") \
        or name.endswith("_batch")


_HUB_PREFIXES = ("hf-hub:", "hf_hub:", "timm/")

#: Backbone names glyph builds itself (glyph.backbones), with timm's parameter names, without importing timm.
NATIVE_BACKBONES = ("resnet10t", "convnext_atto")


def check_timm_model(name: str, where: str, *, listed: bool = True) -> str:
    """Return ``name`` when timm can build it offline; refuse hub names, URLs and unknown names.

    timm treats ``hf-hub:org/model`` (and ``hf_hub:``) as a request to download from the Hugging Face
    hub, which glyph never does at run time (weights ship with glyph or come from a run folder); a
    name outside :func:`timm.list_models` cannot be built at all. Core calls this for every config
    field that names a timm model (see :func:`names_timm_model`); a method may call it itself.

    :param where: what named the model, for the message (``"--set: field 'backbone'"``).
    :param listed: also look the name up in :func:`timm.list_models` (importing timm, a second or more);
        ``False`` refuses only what would download, for checks that run at every start-up.
    :raises GlyphError: one line with the value seen and how to list the accepted names.
    """
    if not isinstance(name, str) or not name.strip():
        raise GlyphError(f"{where}: expected a timm model name such as resnet10t, got {name!r}")
    lowered = name.strip().lower()
    if lowered.startswith(_HUB_PREFIXES) or "://" in lowered or ":" in name or "/" in name:
        raise GlyphError(f"{where}: {name!r} would download a model at run time, which glyph never does; give a "
                         f"name timm builds offline (python -c 'import timm; print(timm.list_models())'), "
                         f"e.g. resnet10t")
    if name in NATIVE_BACKBONES or not listed:
        return name
    import timm  # imported here: glyph's import stays cheap, and only a changed name needs the list

    known = timm.list_models()
    if name not in known:
        raise GlyphError(f"{where}: {name!r} is not a timm model{did_you_mean(name, known)}; list them with "
                         f"python -c 'import timm; print(timm.list_models())'")
    return name


def names_timm_model(f: dataclasses.Field) -> bool:
    """True for a config field that names a timm model: ``metadata={"timm": True}``, or help text that
    starts with "timm" (how the built-in methods describe their backbones)."""
    if f.metadata.get("timm"):
        return True
    return str(f.metadata.get("help", "")).lower().startswith("timm")


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def apply_overrides(config: Any, overrides: Mapping[str, Any], source: str, *, list_timm: bool = True) -> Any:
    """Return a copy of dataclass ``config`` with ``overrides`` applied and validated.

    Every value that differs from the field's default is checked in one place: numbers are finite and
    not negative (:func:`check_number`; learning rates and batch sizes above 0), and a field that names
    a timm model names one timm builds offline (:func:`check_timm_model`). Then the Config's own
    ``validate()`` runs.

    A Config may map old field names to new ones in a ``renamed_fields`` class attribute, so run folders
    written before a rename still load.

    :param source: where the overrides come from, for messages (``"preset 'tiny'"``, ``"--set"``).
    :param list_timm: look timm model names up in timm's list (see :func:`check_timm_model`'s ``listed``).
    :raises GlyphError: for an unknown key (with did-you-mean and the list of fields) or a bad value.
    """
    hints = _hints(type(config))
    known = [f.name for f in dataclasses.fields(config)]
    renamed = getattr(type(config), "renamed_fields", {})  # old name -> new: run folders written before a rename
    changes = {}
    for key, value in overrides.items():
        key = renamed.get(key, key) if isinstance(key, str) else key
        if key not in known:
            raise GlyphError(  # show_value (a repr): a key from --set may hold a newline
                f"{source}: unknown config field {show_value(key)}"
                f"{did_you_mean(key, known) if isinstance(key, str) else ''}; "
                f"fields are: {', '.join(known)} (see `glyph info METHOD`)"
            )
        changes[key] = coerce(value, hints[key], f"{source}: field '{key}'")
    fields = {f.name: f for f in dataclasses.fields(config)}
    for key, value in changes.items():
        if value == _default(fields[key]):
            continue  # the field's own default is the method's code, trusted (a run's config.json repeats it)
        check_number(value, f"{source}: field '{key}'", fields[key].metadata.get("min", 0), _must_be_positive(key))
        if names_timm_model(fields[key]):  # a name from a user or a run folder must not reach the model hub
            check_timm_model(value, f"{source}: field '{key}'", listed=list_timm)
    new = dataclasses.replace(config, **changes)
    check = getattr(new, "validate", None)
    if callable(check):
        check()
    return new


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a Config (tuples become lists, paths strings)."""
    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v
    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def parse_sets(items: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``key=value`` items -> (method overrides, train overrides); ``train.key=value`` goes to the loop."""
    method, train = {}, {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GlyphError(f"--set {item!r}: expected key=value, e.g. --set lr=0.0002 or --set train.log_every=10")
        key = key.strip()
        if key.startswith("train."):
            train[key[6:]] = value.strip()
        else:
            method[key] = value.strip()
    return method, train


def read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A TOML file: top-level keys override the method's Config, a [train] table the loop's."""
    if path.exists() and not path.is_file() and not path.is_dir():  # a FIFO or a device would wait or never end
        raise GlyphError(f"--config {path} is not a regular file; give a TOML file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise GlyphError(f"--config {path}: no such file") from None
    except IsADirectoryError:
        raise GlyphError(f"--config {path} is a folder; give a TOML file") from None
    except OSError as e:
        raise GlyphError(f"--config {path} cannot be read ({e.strerror or e})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise GlyphError(f"--config {path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start}); give "
                         f"a TOML file saved as UTF-8, e.g. lr = 0.0002 and a [train] table") from None
    except ValueError as e:  # TOMLDecodeError, or an integer too long to convert (Python's 4,300-digit limit)
        raise GlyphError(f"--config {path}: not valid TOML ({str(e).splitlines()[0][:200]})") from None
    train = data.pop("train", {})
    if not isinstance(train, dict):
        raise GlyphError(f"--config {path}: 'train' must be a table ([train])")
    return data, train
