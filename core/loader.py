"""Loading plugins from the ``glyph`` entry-point group, one at a time.

Each entry point is imported, validated and asked to register on its own: one that fails to
import, implements a misspelled hook, raises in a hook, or registers a name already taken is
recorded as a :class:`~glyph.registry.LoadFailure` and skipped, and everything else keeps working
(a broken plugin never takes ``glyph list`` down). Environment:

``GLYPH_STRICT_PLUGINS=1``  any such failure raises :class:`~glyph.errors.PluginError` (for plugin
                            authors and CI).
``GLYPH_LOAD_PLUGINS=a,b``  load only these distributions besides glyph itself (empty: built-ins only).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from . import hookspecs
from .catalogue import CATALOGUE_KEYS, builtin_catalogue
from .config import apply_overrides
from .errors import GlyphError, PluginError
from .registry import DISTRIBUTION, RESERVED_COMMANDS, Entry, LoadFailure, PluginRecord, Provider, Registry

GROUP = "glyph"
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
REF_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")  # "package.module:Class"
REGISTRATION_HOOKS = {
    "methods": "glyph_register_methods",
    "datasets": "glyph_register_datasets",
    "metrics": "glyph_register_metrics",
    "commands": "glyph_register_commands",
}


def strict_mode() -> bool:
    """True when ``GLYPH_STRICT_PLUGINS`` asks for plugin failures to be fatal."""
    return os.environ.get("GLYPH_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes", "on")


def allowed_distributions() -> set[str] | None:
    """The ``GLYPH_LOAD_PLUGINS`` allow-list (normalised names), or None when unset (load all)."""
    raw = os.environ.get("GLYPH_LOAD_PLUGINS")
    if raw is None:
        return None
    return {_norm(x) for x in raw.split(",") if x.strip()}


def _norm(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower().strip()


def _provider(ep: EntryPoint) -> Provider:
    dist = getattr(ep, "dist", None)
    name = dist.metadata["Name"] if dist is not None else "unknown"
    version = dist.version if dist is not None else "?"
    return Provider(plugin=ep.name, dist=name, version=version)


class _Loader:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.registry = Registry()
        self.pm = pluggy.PluginManager("glyph")
        self.pm.add_hookspecs(hookspecs)
        self.registry.pm = self.pm
        self.records: dict[str, PluginRecord] = {}

    def fail(self, provider: Provider, stage: str, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        failure = LoadFailure(provider.plugin, provider.dist, provider.version, stage, str(text).splitlines()[0])
        if self.strict:
            raise PluginError(failure.line() + " (GLYPH_STRICT_PLUGINS=1 makes this fatal)")
        self.registry.failures.append(failure)

    def load(self, eps: list[EntryPoint]) -> Registry:
        for ep in eps:
            provider = _provider(ep)
            key = f"{provider.dist}:{ep.name}"
            if key in self.records:
                continue  # the same distribution seen twice on sys.path
            try:
                plugin = ep.load()
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    raise
                self.fail(provider, "import", e)
                continue
            unmarked = [n for n, v in vars(plugin).items() if n.startswith("glyph_") and callable(v)
                        and not hasattr(v, "glyph_impl")] if inspect.ismodule(plugin) else []
            if unmarked:
                self.fail(provider, "validation", f"{', '.join(unmarked)} lacks the @glyph.hookimpl marker")
                continue
            try:
                self.pm.register(plugin, name=key)
            except Exception as e:
                self.fail(provider, "validation", e)
                continue
            self.records[key] = PluginRecord(provider=provider)
        self._check_pending()
        for key, record in self.records.items():
            plugin = self.pm.get_plugin(key)
            record.hooks = sorted(
                hc.name for hc in self.pm.get_hookcallers(plugin) or [] if hc.name.startswith("glyph_")
            )
        for kind, hook in REGISTRATION_HOOKS.items():
            self._register_all(kind, hook)
        self.registry.plugins = list(self.records.values())
        return self.registry

    def _check_pending(self) -> None:
        # check_pending raises for the first bad plugin; report it, drop it, look again.
        while True:
            try:
                self.pm.check_pending()
                return
            except pluggy.PluginValidationError as e:
                key = self.pm.get_name(e.plugin)
                record = self.records.pop(key)
                self.pm.unregister(e.plugin)
                self.fail(record.provider, "validation", f"{e} (a misspelled hook name?)")

    def _register_all(self, kind: str, hook: str) -> None:
        caller = getattr(self.pm.hook, hook)
        by_plugin = {impl.plugin_name: impl for impl in caller.get_hookimpls()}
        for key, record in list(self.records.items()):
            impl = by_plugin.get(key)
            if impl is None:
                continue
            staged: list[Entry] = []

            def register(obj: Any, name: str | None = None, _staged=staged, _p=record.provider,
                         **catalogue: Any) -> None:
                _staged.append(self._make_entry(kind, obj, name, _p, catalogue))

            try:
                kwargs = {"register": register} if "register" in impl.argnames else {}
                impl.function(**kwargs)
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    raise
                if isinstance(e, PluginError):
                    raise
                self.fail(record.provider, hook, e)
                continue
            table = self.registry.kind(kind)
            for entry in staged:
                if entry.name in table:
                    other = table[entry.name].provider
                    self.fail(record.provider, hook, f"{kind[:-1]} name '{entry.name}' is already "
                              f"registered by {other.dist} {other.version} ({other.plugin}); skipped")
                    continue
                table[entry.name] = entry
                record.registered.setdefault(kind, []).append(entry.name)

    def _make_entry(self, kind: str, obj: Any, name: str | None, provider: Provider,
                    catalogue: dict[str, Any]) -> Entry:
        if kind == "commands":
            cmd_name = name or getattr(getattr(obj, "info", None), "name", None) or \
                getattr(obj, "__name__", "").replace("_", "-")
            if not cmd_name:
                raise ValueError("register(command, name=...) needs a name for this command")
            if cmd_name in RESERVED_COMMANDS:
                raise ValueError(f"command name '{cmd_name}' is reserved by glyph")
            return Entry(cmd_name, obj, provider)
        if isinstance(obj, str):
            return self._make_reference(kind, obj, name, provider, catalogue)
        return self._checked_entry(kind, obj, name, provider, catalogue)

    def _make_reference(self, kind: str, ref: str, name: str | None, provider: Provider,
                        catalogue: dict[str, Any]) -> Entry:
        """An entry for ``register("package.module:Class", name=...)``, imported when first used."""
        if not REF_RE.match(ref):
            raise ValueError(f"register({ref!r}): a reference is 'package.module:Class'")
        if not name or not NAME_RE.match(name):
            raise ValueError(f"register({ref!r}, name=...) needs a lowercase name (letters, digits, - or _), "
                             f"got {name!r}")
        info = self._catalogue(kind, name, provider, catalogue)

        def load() -> Any:
            module, _, attr = ref.partition(":")
            try:
                obj = getattr(importlib.import_module(module), attr)
            except Exception as e:
                raise GlyphError(f"{kind[:-1]} '{name}' from {provider.dist} {provider.version} could not be loaded "
                                 f"({type(e).__name__}: {_first_line(e)}); reinstall {provider.dist} or see "
                                 f"`glyph plugins`") from None
            try:
                entry = self._checked_entry(kind, obj, name, provider, catalogue)
            except Exception as e:  # it imported, but what it registered is wrong: a bug for its authors
                raise GlyphError(f"{kind[:-1]} '{name}' from {provider.dist} {provider.version} is broken "
                                 f"({type(e).__name__}: {_first_line(e)}); tell its authors "
                                 f"(glyph.testing.check_method finds this)") from None
            if kind == "methods" and "trainable" in info and bool(info["trainable"]) != bool(obj.trainable):
                raise GlyphError(f"method '{name}': its catalogue says trainable={info['trainable']}, the class "
                                 f"says {obj.trainable}; fix the registration in {provider.dist}")
            return entry.obj

        return Entry(name, None, provider, info, ref=ref, load=load)

    def _catalogue(self, kind: str, name: str, provider: Provider, catalogue: dict[str, Any]) -> dict[str, Any]:
        """A method's catalogue: registry.toml's table for a built-in, then the register() keywords."""
        if kind != "methods":
            return {}
        unknown = set(catalogue) - set(CATALOGUE_KEYS)
        if unknown:
            raise ValueError(f"unknown register() keyword(s) {sorted(unknown)}; allowed: {', '.join(CATALOGUE_KEYS)}")
        info = dict(builtin_catalogue().get(name, {})) if provider.builtin else {}
        info.update(catalogue)
        return info

    def _checked_entry(self, kind: str, obj: Any, name: str | None, provider: Provider,
                       catalogue: dict[str, Any]) -> Entry:
        base = _base_for(kind)
        if not (inspect.isclass(obj) and issubclass(obj, base)):
            raise TypeError(f"register() expects a subclass of glyph.{base.__name__}, got {obj!r}")
        reg_name = name or obj.name
        if not reg_name or not NAME_RE.match(reg_name):
            raise ValueError(f"{base.__name__} {obj.__name__} needs a lowercase name (letters, digits, - or _), "
                             f"got {reg_name!r}")
        if kind != "methods":
            return Entry(reg_name, obj, provider)
        info = self._catalogue(kind, reg_name, provider, catalogue)
        if not dataclasses.is_dataclass(obj.Config):
            raise TypeError(f"method '{reg_name}': Config must be a dataclass")
        if not info.get("summary"):
            info["summary"] = (inspect.getdoc(obj) or "").split("\n")[0]
        config = obj.Config()
        for preset, overrides in (info.get("presets") or {}).items():
            # Checked on every load, so without timm's list of names (importing timm takes a second and a half): a
            # preset's timm name is looked up when that preset's model is built (glyph.backbones), and by
            # glyph.testing.check_method.
            apply_overrides(config, overrides, f"method '{reg_name}' preset '{preset}'", list_timm=False)
        return Entry(reg_name, obj, provider, info)


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message (empty when it has none)."""
    return str(e).splitlines()[0] if str(e) else ""


def _base_for(kind: str) -> type:
    from .dataset import DatasetFormat
    from .method import Method
    from .metric import Metric

    return {"methods": Method, "datasets": DatasetFormat, "metrics": Metric}[kind]


def discover() -> list[EntryPoint]:
    """Entry points of the ``glyph`` group that the allow-list admits, glyph's own first."""
    allow = allowed_distributions()
    eps = []
    for ep in entry_points(group=GROUP):
        dist = _provider(ep).dist
        if _norm(dist) != DISTRIBUTION and allow is not None and _norm(dist) not in allow:
            continue
        eps.append(ep)
    eps.sort(key=lambda ep: (_norm(_provider(ep).dist) != DISTRIBUTION, _norm(_provider(ep).dist), ep.name))
    return eps


def load_plugins(strict: bool | None = None) -> Registry:
    """Load every admitted plugin into a fresh :class:`Registry` (see the module docstring)."""
    return _Loader(strict_mode() if strict is None else strict).load(discover())


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_plugins()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the loaded registry (the next :func:`get_registry` loads again; used by tests)."""
    global _REGISTRY
    _REGISTRY = None


def notify(event: str, **kwargs: Any) -> None:
    """Fire trainer event hook ``event`` on every plugin, each isolated from the others.

    An observer that raises is reported once as a load failure and not called again in this
    process; in strict mode the error propagates.
    """
    registry = get_registry()
    caller: Callable[..., Any] = getattr(registry.pm.hook, event)
    for impl in list(caller.get_hookimpls()):
        try:
            impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
        except Exception as e:
            record = next((r for r in registry.plugins
                           if f"{r.provider.dist}:{r.provider.plugin}" == impl.plugin_name), None)
            provider = record.provider if record else Provider(impl.plugin_name, "?", "?")
            failure = LoadFailure(provider.plugin, provider.dist, provider.version, event, f"{type(e).__name__}: {e}")
            if strict_mode():
                raise PluginError(failure.line()) from e
            registry.failures.append(failure)
            registry.pm.unregister(name=impl.plugin_name)
