"""registry.toml, the built-in entry points and the plugins/ folders agree; presets are valid."""

from __future__ import annotations

import tomllib

import pytest

from glyph.catalogue import CATALOGUE_KEYS, builtin_catalogue
from glyph.config import apply_overrides
from glyph.loader import get_registry

from .conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Method entry points point into glyph.plugins.<name>; the others register machinery (layouts, metrics).
ENTRY_POINTS = {k: v for k, v in PYPROJECT["project"]["entry-points"]["glyph"].items()
                if v.startswith("glyph.plugins.")}
CATALOGUE = builtin_catalogue()
METHOD_FOLDERS = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "plugin.py").is_file())


def test_registry_entry_points_and_folders_are_equal():
    assert sorted(CATALOGUE) == sorted(ENTRY_POINTS) == METHOD_FOLDERS


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_points_into_its_folder(name):
    assert ENTRY_POINTS[name] == f"glyph.plugins.{name}.plugin"


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_entry_is_complete_and_presets_valid(name):
    entry = CATALOGUE[name]
    assert set(entry) <= set(CATALOGUE_KEYS), f"unknown keys {set(entry) - set(CATALOGUE_KEYS)}"
    for key in ("summary", "task", "paper", "upstream", "status"):
        assert entry.get(key), f"registry.toml [methods.{name}] lacks '{key}'"
    registered = get_registry().methods[name]
    assert registered.provider.dist == "glyph-cjk"
    config = registered.obj.Config()
    for preset, overrides in (entry.get("presets") or {}).items():
        apply_overrides(config, overrides, f"preset {preset}")  # raises on unknown fields or bad values


def test_builtins_load_without_failures():
    registry = get_registry()
    assert not [f for f in registry.failures if f.dist == "glyph-cjk"]
    assert set(CATALOGUE) <= set(registry.methods)
