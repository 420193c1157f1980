"""Typed method configs: introspection for ``glyph info`` and validated overrides.

A method's ``Config`` is a dataclass whose field defaults are *the* defaults (one home per fact).
Presets (registry.toml), config files and ``--set key=value`` are layers of overrides applied by
:func:`apply_overrides`, which rejects unknown keys and wrong types with a message that names the
field and what it accepts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
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


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; convert strings (from ``--set``) and lists (from TOML).

    :raises GlyphError: naming ``where`` and the accepted type when the value does not fit.
    """
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)

    def fail() -> GlyphError:
        return GlyphError(f"{where}: expected {type_name(tp)}, got {value!r}")

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
        raise GlyphError(f"{where}: expected one of {', '.join(repr(a) for a in args)}, got {value!r}"
                         + did_you_mean(str(value), [str(a) for a in args]))
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
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                raise fail() from None
        raise fail()
    if tp is float:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail() from None
        raise fail()
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail()
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise fail()
    if isinstance(value, tp):
        return value
    raise fail()


def apply_overrides(config: Any, overrides: Mapping[str, Any], source: str) -> Any:
    """Return a copy of dataclass ``config`` with ``overrides`` applied and validated.

    :param source: where the overrides come from, for messages (``"preset 'tiny'"``, ``"--set"``).
    :raises GlyphError: for an unknown key (with did-you-mean and the list of fields) or a bad value.
    """
    hints = _hints(type(config))
    known = [f.name for f in dataclasses.fields(config)]
    changes = {}
    for key, value in overrides.items():
        if key not in known:
            raise GlyphError(
                f"{source}: unknown config field '{key}'{did_you_mean(key, known)}; "
                f"fields are: {', '.join(known)} (see `glyph info METHOD`)"
            )
        changes[key] = coerce(value, hints[key], f"{source}: field '{key}'")
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
