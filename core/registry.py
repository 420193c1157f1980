"""What plugins registered, and who registered it.

Every registration carries its provenance (entry point, distribution, version) so ``glyph list``
and ``glyph plugins`` can say where a method comes from, and so a name taken twice is reported
against the plugin that tried to take it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import GlyphError, did_you_mean

KINDS = ("methods", "datasets", "metrics", "commands")
# Top-level command names a plugin's glyph_register_commands cannot take.
RESERVED_COMMANDS = frozenset({"list", "info", "plugins", "train", "export", "run", "data", "font", "eval"})


@dataclass(frozen=True)
class Provider:
    """Where a registration came from."""

    plugin: str
    dist: str
    version: str

    @property
    def builtin(self) -> bool:
        """True for glyph's own plugins."""
        return self.dist == "glyph"


@dataclass
class Entry:
    """One registered object (a Method class, a DatasetFormat or Metric class, or a CLI command)."""

    name: str
    obj: Any
    provider: Provider
    catalogue: dict[str, Any] = field(default_factory=dict)


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
    cls = entry.obj
    if not cls.trainable:
        return "n/a"
    finder = getattr(cls, "shipped_weights", None)
    return "yes" if callable(finder) and finder() is not None else "no"


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
        "trainable": bool(entry.obj.trainable),
        "weights": _weights(entry),
    }


def method_info(entry: Entry) -> dict[str, Any]:
    """Everything ``glyph info`` shows, as a JSON-ready dict."""
    from .config import type_name
    from .method import run_options

    cls = entry.obj
    info = method_row(entry)
    cat = entry.catalogue
    info.update(
        paper=cat.get("paper", ""),
        upstream=cat.get("upstream", ""),
        example=cat.get("example", ""),
        parts=list(cls.parts),
        ema_parts=list(cls.ema_parts),
        inputs=dict(cls.inputs),
        run_options=[
            {"option": o.opt.flag or "--" + o.name.replace("_", "-"), "type": type_name(o.type),
             "default": o.config_default if o.config_default is not None
             else (None if o.required else o.default), "required": o.required, "help": o.opt.help}
            for o in run_options(cls)
        ],
        config=cls.describe_config(),
        presets=cat.get("presets") or {},
    )
    return info
