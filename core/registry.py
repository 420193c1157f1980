"""What plugins registered, and who registered it.

Every registration carries its provenance (entry point, distribution, version) so ``glyph list``
and ``glyph plugins`` can say where a method comes from, and so a name taken twice is reported
against the plugin that tried to take it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import GlyphError, did_you_mean

KINDS = ("methods", "datasets", "metrics", "commands")
# glyph's distribution name on the package index ("glyph" there is an unrelated project); the import package and
# the command are `glyph`.
DISTRIBUTION = "glyph-cjk"
# Top-level command names a plugin's glyph_register_commands cannot take.
RESERVED_COMMANDS = frozenset({"list", "info", "plugins", "train", "export", "run", "data", "font", "eval",
                                "serve"})


@dataclass(frozen=True)
class Provider:
    """Where a registration came from."""

    plugin: str
    dist: str
    version: str

    @property
    def builtin(self) -> bool:
        """True for glyph's own plugins."""
        return self.dist.lower().replace("_", "-") == DISTRIBUTION


class Entry:
    """One registered object (a Method class, a DatasetFormat or Metric class, or a CLI command), or a reference
    to one (``"package.module:Class"``) that is imported and checked the first time :attr:`obj` is read.

    References keep ``glyph --help`` and ``glyph list`` from importing every method and so torch; what those
    commands show comes from :attr:`catalogue`.
    """

    def __init__(self, name: str, obj: Any, provider: Provider, catalogue: dict[str, Any] | None = None, *,
                 ref: str | None = None, load: Callable[[], Any] | None = None) -> None:
        self.name = name
        self.provider = provider
        self.catalogue = catalogue if catalogue is not None else {}
        self.ref = ref
        self._obj = obj
        self._load = load

    @property
    def obj(self) -> Any:
        """The registered object, imported now if it was registered by reference."""
        if self._obj is None and self._load is not None:
            self._obj = self._load()
            self._load = None
        return self._obj

    @property
    def loaded(self) -> bool:
        """False while a registration by reference has not been imported yet."""
        return self._obj is not None

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, {self.ref or self._obj!r}, {self.provider.dist})"


@dataclass
class LoadFailure:
    """A plugin that failed to import, validate or register; it was skipped."""

    plugin: str
    dist: str
    version: str
    stage: str
    error: str

    def line(self) -> str:
        """One line for the user."""
        return f"plugin '{self.plugin}' from {self.dist} {self.version} failed at {self.stage}: {self.error}"


@dataclass
class PluginRecord:
    """A loaded plugin: its provenance, the hooks it implements and what it registered."""

    provider: Provider
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Registry:
    """Everything loaded from the ``glyph`` entry-point group."""

    methods: dict[str, Entry] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)
    metrics: dict[str, Entry] = field(default_factory=dict)
    commands: dict[str, Entry] = field(default_factory=dict)
    plugins: list[PluginRecord] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)
    pm: Any = None

    def kind(self, kind: str) -> dict[str, Entry]:
        """The table for ``kind`` (one of :data:`KINDS`)."""
        return getattr(self, kind)

    def method(self, name: str) -> Entry:
        """Look a method up by name; unknown names get a did-you-mean and a pointer to ``glyph list``."""
        try:
            return self.methods[name]
        except KeyError:
            raise GlyphError(
                f"unknown method '{name}'{did_you_mean(name, self.methods)}; see `glyph list` for the installed methods"
            ) from None

    def metric(self, name: str) -> Entry:
        """Look a metric up by name, with a did-you-mean."""
        try:
            return self.metrics[name]
        except KeyError:
            known = ", ".join(sorted(self.metrics)) or "none"
            raise GlyphError(f"unknown metric '{name}'{did_you_mean(name, self.metrics)}; available: {known}") from None


def _weights(entry: Entry) -> str:
    if not entry.loaded:  # by reference: read the package folder without importing the method (and torch)
        if not _trainable(entry):
            return "n/a"
        import importlib.util
        from pathlib import Path

        try:
            spec = importlib.util.find_spec(str(entry.ref).partition(":")[0])
        except (ImportError, ValueError):
            spec = None
        origin = Path(spec.origin).parent if spec is not None and spec.origin else None
        return "yes" if origin is not None and (origin / "default" / "config.json").is_file() else "no"
    cls = entry.obj
    if not cls.trainable:
        return "n/a"
    finder = getattr(cls, "shipped_weights", None)
    return "yes" if callable(finder) and finder() is not None else "no"


def _trainable(entry: Entry) -> bool:
    """Whether a method trains: its class says; for one not imported yet, its catalogue, else its interface file."""
    if entry.loaded:
        return bool(entry.obj.trainable)
    if "trainable" in entry.catalogue:
        return bool(entry.catalogue["trainable"])
    from .interface import read

    iface = read(entry.ref) if entry.ref else None
    return bool(iface["trainable"]) if iface is not None else True


def method_row(entry: Entry) -> dict[str, Any]:
    """The facts ``glyph list`` shows for one method."""
    cat = entry.catalogue
    return {
        "name": entry.name,
        "task": cat.get("task", ""),
        "summary": cat.get("summary", ""),
        "provider": entry.provider.dist,
        "version": entry.provider.version,
        "plugin": entry.provider.plugin,
        "builtin": entry.provider.builtin,
        "status": cat.get("status", ""),
        "trainable": _trainable(entry),
        "weights": _weights(entry),
    }


def method_rows(registry: Registry) -> list[dict[str, Any]]:
    """:func:`method_row` for every registered method, sorted by name: the rows of ``glyph list``."""
    return [method_row(e) for _, e in sorted(registry.methods.items())]


def plugin_rows(registry: Registry, builtin: bool = False) -> list[dict[str, Any]]:
    """The loaded plugins as JSON-ready dicts (name, distribution, version, builtin, hooks, registered), for
    ``glyph plugins``; glyph's own only with ``builtin``."""
    return [
        {"name": r.provider.plugin, "distribution": r.provider.dist, "version": r.provider.version,
         "builtin": r.provider.builtin, "hooks": r.hooks, "registered": r.registered}
        for r in registry.plugins if builtin or not r.provider.builtin
    ]


def failure_rows(registry: Registry) -> list[dict[str, Any]]:
    """The plugins that failed to load as JSON-ready dicts (name, distribution, version, stage, error)."""
    return [
        {"name": f.plugin, "distribution": f.dist, "version": f.version, "stage": f.stage, "error": f.error}
        for f in registry.failures
    ]


def method_info(entry: Entry) -> dict[str, Any]:
    """Everything ``glyph info`` shows, as a JSON-ready dict; from the method's ``interface.json`` while that is
    current (no import, see :mod:`glyph.interface`), else from the imported class."""
    from . import interface

    iface = interface.read(entry.ref) if entry.ref and not entry.loaded else None
    if iface is None:
        iface = interface.describe(entry.obj)
    info = method_row(entry)
    cat = entry.catalogue
    info.update(
        paper=cat.get("paper", ""),
        upstream=cat.get("upstream", ""),
        example=cat.get("example", ""),
        parts=iface["parts"],
        ema_parts=iface["ema_parts"],
        inputs=iface["inputs"],
        run_options=[
            {"option": o["flag"] or "--" + o["name"].replace("_", "-"), "type": o["type_name"],
             "default": o["config_default"] if o["config_default"] is not None
             else (None if o["required"] else o["default"]), "required": o["required"], "help": o["help"]}
            for o in iface["run_options"]
        ],
        config=iface["config"],
        presets=cat.get("presets") or {},
    )
    return info
