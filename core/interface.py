"""A method's interface as data: what ``glyph info METHOD`` and ``glyph run METHOD --help`` show, read without
importing the method (and so torch, a second or two before any help appears).

A method registered by reference (``register("package.module:Class", name=...)``) may keep ``interface.json`` in
its package, beside the module that defines it; glyph's own do. The file holds, per class, the run options, the
Config fields, the inputs and parts, and a fingerprint of the package's Python files. It is used only while the
fingerprint matches the code, so an edit never shows stale help: until the file is written again, glyph imports
the method as it would without the file. A file that is damaged or edited by hand is ignored the same way. Write
it with ``python -m glyph.interface package.module:Class ...``; :func:`glyph.testing.check_method` fails while it
is out of date.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

FILE = "interface.json"
VERSION = 1  # of the file's layout

USAGE = """usage: python -m glyph.interface package.module:Class [...]
       python -m glyph.interface --builtin

Write the interface.json of each method class into its package (in the copy Python imports: install your plugin
with `pip install -e .` so that this is your source tree). --builtin rewrites glyph's own methods' files."""


def _module_file(ref: str) -> Path | None:
    """The source file of the module in ``package.module:Class``, found without importing the module; None unless
    it is a ``.py`` file inside a package (a folder with ``__init__.py``: the fingerprint covers that folder)."""
    module = ref.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    origin = Path(spec.origin)
    return origin if (origin.parent / "__init__.py").is_file() else None


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


def _load(folder: Path) -> dict[str, Any] | None:
    """The parsed interface file of the package ``folder``; None if absent, not JSON, or without a classes table."""
    try:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("classes"), dict) else None


def read(ref: str) -> dict[str, Any] | None:
    """The interface of the class ``package.module:Class`` from its package's ``interface.json``, without importing
    the module; None when there is no file, it does not describe this class in the expected shape, or the code
    changed since it was written."""
    source = _module_file(ref)
    data = _load(source.parent) if source is not None else None
    if data is None or data.get("version") != VERSION:
        return None
    entry = data["classes"].get(ref)
    if not _well_formed(entry) or data.get("fingerprint") != fingerprint(source.parent):
        return None
    return entry


_TYPES = ("str", "int", "float", "bool", "Path")
_FLAG = re.compile(r"--[a-z0-9][a-z0-9-]*\Z")
_SHORT = re.compile(r"-[A-Za-z]\Z")


def _well_formed(entry: Any) -> bool:
    """Whether ``entry`` has the shape :func:`describe` writes, with option names and flags a command line can take
    and none of glyph's own: a damaged or hand-edited file is ignored (the method is imported instead, and reports
    its own problems)."""
    from .method import HOST_OPTIONS

    def strings(v: Any) -> bool:
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    if not (isinstance(entry, dict) and isinstance(entry.get("trainable"), bool) and strings(entry.get("parts"))
            and strings(entry.get("ema_parts")) and isinstance(entry.get("inputs"), dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in entry["inputs"].items())
            and isinstance(entry.get("config"), list) and isinstance(entry.get("run_options"), list)):
        return False
    for f in entry["config"]:
        if not (isinstance(f, dict) and all(isinstance(f.get(k), str) for k in ("name", "type", "help"))
                and "default" in f):
            return False
    names, flags = set(), set()
    for o in entry["run_options"]:
        if not (isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"].isidentifier()
                and o["name"] not in HOST_OPTIONS and o["name"] not in names and o.get("type") in _TYPES
                and isinstance(o.get("type_name"), str) and isinstance(o.get("required"), bool)
                and isinstance(o.get("help"), str) and all(k in o for k in ("default", "config_default"))
                and (o.get("choices") is None or (strings(o["choices"]) and o["choices"]))
                and (o.get("flag") is None or (isinstance(o["flag"], str) and _FLAG.match(o["flag"])))
                and (o.get("short") is None or (isinstance(o["short"], str) and _SHORT.match(o["short"])))):
            return False
        flag = o["flag"] or "--" + o["name"].replace("_", "-")
        if flag in flags or flag in ("--help", *(f"--{h}" for h in HOST_OPTIONS)) or o["short"] == "-h":
            return False
        names.add(o["name"])
        flags.add(flag)
    return True


def stale(ref: str, cls: type) -> str | None:
    """Why the package of ``ref`` holds an ``interface.json`` that does not describe the imported ``cls`` as it is
    now; None when it does, or when the package has no such file (the file is optional)."""
    source = _module_file(ref)
    if source is None or not (source.parent / FILE).exists():
        return None
    path, fix = source.parent / FILE, f"write it again with: python -m glyph.interface {ref}"
    data = _load(source.parent)
    if data is None:
        return f"{path} is not an interface file (not JSON, or no 'classes' table); {fix}"
    if data.get("version") != VERSION:
        return f"{path} has layout {data.get('version')!r}, not {VERSION}; {fix}"
    if ref not in data["classes"]:
        return f"{path} does not list {ref}; {fix}"
    if data.get("fingerprint") != fingerprint(source.parent):
        return f"{path} was written before the package's code last changed; {fix}"
    if data["classes"][ref] != describe(cls) or not _well_formed(data["classes"][ref]):
        return f"{path} does not describe {ref} as it is now; {fix}"
    return None


def run_option_specs(interface: dict[str, Any]) -> list[Any]:
    """The :class:`glyph.method.RunOption` list of an interface read from a file (what ``run_options`` gives for
    the imported class, for building a command line)."""
    import typing

    from .method import Opt, RunOption

    types = {"str": str, "int": int, "float": float, "bool": bool, "Path": Path}
    specs = []
    for o in interface["run_options"]:
        tp: Any = typing.Literal[tuple(o["choices"])] if o["choices"] else types[o["type"]]
        default = Path(o["default"]) if tp is Path and isinstance(o["default"], str) else o["default"]
        specs.append(RunOption(o["name"], tp, default, o["required"], Opt(o["help"], o["flag"], o["short"]),
                               o["config_default"]))
    return specs


def write(refs: list[str]) -> list[Path]:
    """Write the ``interface.json`` of each class ``package.module:Class`` in ``refs``, importing them. Classes of
    one package share its file, and the classes it already lists are described again, since the fingerprint covers
    the whole package; one of those that no longer imports as a method (renamed, removed) is dropped. Returns the
    files written.

    :raises ValueError: a reference in ``refs`` that is not an importable ``package.module:Class`` with a ``.py``
        source inside a package, or whose class is not a :class:`glyph.Method` subclass.
    """
    folders: dict[Path, list[str]] = {}
    for ref in refs:
        source = _module_file(ref)
        if source is None or not ref.partition(":")[2]:
            raise ValueError(f"{ref!r} is not package.module:Class naming a .py module inside a package (a folder "
                             f"with __init__.py) that Python can find")
        folders.setdefault(source.parent, []).append(ref)
    written = []
    for folder, given in folders.items():
        classes = {ref: _describe_ref(ref) for ref in sorted(set(given))}
        old = _load(folder)
        for ref in sorted(set(old["classes"]) - set(classes) if old else ()):
            try:
                classes[ref] = _describe_ref(ref)
            except Exception:  # gone or broken since it was listed: the file no longer speaks for it
                continue
        data = {"version": VERSION, "fingerprint": fingerprint(folder), "classes": dict(sorted(classes.items()))}
        path = folder / FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def _describe_ref(ref: str) -> dict[str, Any]:
    """:func:`describe` of the class ``package.module:Class``, imported now."""
    import importlib

    from .method import Method

    module, _, attr = ref.partition(":")
    cls = getattr(importlib.import_module(module), attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Method)) or cls is Method:
        raise ValueError(f"{ref!r} does not name a subclass of glyph.Method")
    return describe(cls)


def builtin_refs() -> list[str]:
    """The ``package.module:Class`` of every method glyph registers itself."""
    from .loader import get_registry

    return sorted(e.ref for e in get_registry().methods.values() if e.provider.builtin and e.ref)


if __name__ == "__main__":
    import sys

    args = sys.argv[1:]
    if not args or any(a in ("-h", "--help") for a in args):
        print(USAGE, file=sys.stderr if not args else sys.stdout)
        sys.exit(2 if not args else 0)
    try:
        for written in write(builtin_refs() if args == ["--builtin"] else args):
            print(f"wrote {written}")
    except (ImportError, ValueError, TypeError) as e:  # a wrong reference, or run options glyph cannot read
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
