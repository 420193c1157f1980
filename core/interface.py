"""A method's interface as data: what ``glyph info METHOD`` and ``glyph run METHOD --help`` show, read without
importing the method (and so torch, a second or two before any help appears).

A method package may keep ``interface.json`` beside the module that defines the method class; glyph's own do. It
holds, per class, the run options, the Config fields, the inputs and parts, and a fingerprint of the package's
Python files. The file is used only while the fingerprint matches the code, so an edit never shows stale help:
until the file is written again, glyph imports the method as it would without the file. Write it with
``python -m glyph.interface package.module:Class ...`` (no argument: glyph's built-in methods);
:func:`glyph.testing.check_method` fails while it is out of date.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

FILE = "interface.json"
VERSION = 1  # of the file's layout


def _module_file(ref: str) -> Path | None:
    """The source file of the module in ``package.module:Class``, found without importing it."""
    module = ref.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def fingerprint(folder: Path) -> str:
    """A hash of the Python files of a method's package folder (names and contents, subfolders included)."""
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _plain(value: Any) -> Any:
    """``value`` as JSON gives it back: tuples as lists, paths and other objects as text."""
    return json.loads(json.dumps(value, default=str))


def describe(cls: type) -> dict[str, Any]:
    """The interface of an imported Method class, JSON-ready (what :func:`read` returns for a current file)."""
    from .config import type_name
    from .method import run_options

    options = []
    for o in run_options(cls):
        plain = o.plain_type
        options.append({
            "name": o.name, "type": "Path" if plain is Path else plain.__name__, "type_name": type_name(o.type),
            "choices": o.choices, "default": o.default, "required": o.required, "config_default": o.config_default,
            "help": o.opt.help, "flag": o.opt.flag, "short": o.opt.short,
        })
    return _plain({
        "trainable": bool(cls.trainable), "parts": list(cls.parts), "ema_parts": list(cls.ema_parts),
        "inputs": dict(cls.inputs), "run_options": options, "config": cls.describe_config(),
    })


def read(ref: str) -> dict[str, Any] | None:
    """The interface of the class ``package.module:Class`` from its package's ``interface.json``, without importing
    the module; None when there is no file, it does not describe this class, or the code changed since it was
    written."""
    source = _module_file(ref)
    if source is None:
        return None
    try:
        data = json.loads((source.parent / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return None
    entry = data.get("classes", {}).get(ref)
    if not _well_formed(entry) or data.get("fingerprint") != fingerprint(source.parent):
        return None
    return entry


_OPTION_KEYS = {"name": str, "type": str, "type_name": str, "required": bool, "help": str}


def _well_formed(entry: Any) -> bool:
    """Whether ``entry`` has the shape :func:`describe` writes, with no option named like one glyph adds itself: a
    hand-edited or damaged file is ignored (the method is imported instead, and reports its own problems)."""
    from .method import HOST_OPTIONS

    if not isinstance(entry, dict) or not isinstance(entry.get("run_options"), list):
        return False
    if not all(isinstance(entry.get(k), t) for k, t in (("trainable", bool), ("parts", list), ("ema_parts", list),
                                                       ("inputs", dict), ("config", list))):
        return False
    for o in entry["run_options"]:
        if not isinstance(o, dict) or not all(isinstance(o.get(k), t) for k, t in _OPTION_KEYS.items()):
            return False
        if o["name"] in HOST_OPTIONS or not all(k in o for k in ("choices", "default", "config_default", "flag",
                                                                  "short")):
            return False
    return True


def stale(ref: str, cls: type) -> str | None:
    """Why the ``interface.json`` that lists ``ref`` no longer describes the imported ``cls``; None when it does,
    or when no such file lists the class (the file is optional)."""
    source = _module_file(ref)
    if source is None:
        return None
    try:
        data = json.loads((source.parent / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or ref not in data.get("classes", {}):
        return None
    fix = f"write it again with: python -m glyph.interface {ref}"
    if data.get("version") != VERSION:
        return f"{source.parent / FILE} has layout {data.get('version')!r}, not {VERSION}; {fix}"
    if data.get("fingerprint") != fingerprint(source.parent):
        return f"{source.parent / FILE} was written before the package's code last changed; {fix}"
    if data["classes"][ref] != describe(cls):
        return f"{source.parent / FILE} does not describe {ref} as it is now; {fix}"
    return None


def run_option_specs(interface: dict[str, Any]) -> list[Any]:
    """The :class:`glyph.method.RunOption` list of an interface read from a file (what ``run_options`` gives for
    the imported class, for building a command line)."""
    import typing

    from .method import Opt, RunOption

    types = {"str": str, "int": int, "float": float, "bool": bool, "Path": Path}
    specs = []
    for o in interface["run_options"]:
        tp: Any = typing.Literal[tuple(o["choices"])] if o["choices"] else types.get(o["type"], str)
        default = Path(o["default"]) if tp is Path and isinstance(o["default"], str) else o["default"]
        specs.append(RunOption(o["name"], tp, default, o["required"], Opt(o["help"], o["flag"], o["short"]),
                               o["config_default"]))
    return specs


def write(refs: list[str]) -> list[Path]:
    """Write the ``interface.json`` of each class ``package.module:Class`` in ``refs``, importing them. Classes of
    one package share its file; the classes it already described are described again, as the fingerprint covers
    the whole package. Returns the files written.

    :raises ValueError: a reference that is not an importable ``package.module:Class`` with a ``.py`` source, or
        whose class is not a :class:`glyph.Method`.
    """
    import importlib

    from .method import Method

    folders: dict[Path, set[str]] = {}
    for ref in refs:
        source = _module_file(ref)
        if source is None or not ref.partition(":")[2]:
            raise ValueError(f"{ref!r} is not an importable package.module:Class with a .py source")
        folders.setdefault(source.parent, set()).add(ref)
    written = []
    for folder, wanted in folders.items():
        path = folder / FILE
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
            wanted |= set(old.get("classes", {})) if isinstance(old, dict) else set()
        except (OSError, ValueError):
            pass
        classes = {}
        for ref in sorted(wanted):
            module, _, attr = ref.partition(":")
            cls = getattr(importlib.import_module(module), attr, None)
            if not (isinstance(cls, type) and issubclass(cls, Method)):
                raise ValueError(f"{ref!r} does not name a glyph.Method subclass")
            classes[ref] = describe(cls)
        data = {"version": VERSION, "fingerprint": fingerprint(folder), "classes": classes}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def builtin_refs() -> list[str]:
    """The ``package.module:Class`` of every method glyph registers itself."""
    from .loader import get_registry

    return sorted(e.ref for e in get_registry().methods.values() if e.provider.builtin and e.ref)


if __name__ == "__main__":
    import sys

    try:
        for written in write(sys.argv[1:] or builtin_refs()):
            print(f"wrote {written}")
    except (ImportError, ValueError, TypeError) as e:  # a wrong reference, or run options glyph cannot read
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
