"""registry.toml: the catalogue of glyph's built-in methods (summary, task, paper, upstream, status, presets).

In a wheel the file is package data (``glyph/registry.toml``); in an editable install it is read
from the repository root. Defaults do not live here: presets only override Config fields.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

CATALOGUE_KEYS = ("summary", "task", "paper", "upstream", "status", "example", "presets", "trainable")


def registry_path() -> Path:
    """Where registry.toml is: inside the installed package, else at the repository root."""
    packaged = resources.files("glyph") / "registry.toml"
    if packaged.is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parent.parent / "registry.toml"
    if repo.is_file():
        return repo
    raise FileNotFoundError(
        "registry.toml is missing from this glyph installation; reinstall glyph (pip install --force-reinstall glyph)"
    )


@functools.lru_cache(maxsize=1)
def builtin_catalogue() -> dict[str, dict[str, Any]]:
    """Method name -> catalogue entry, as written in registry.toml's ``[methods.NAME]`` tables."""
    with open(registry_path(), "rb") as fh:
        data = tomllib.load(fh)
    return data.get("methods", {})


def model_card(method: str) -> str | None:
    """The model card of a built-in method (its page ``docs/methods/METHOD.md``, Markdown), or None when glyph has
    none (a third party's method documents itself). In a wheel the cards are package data (``glyph/cards/``); in
    an editable install they are read from the repository's docs."""
    if not method.replace("-", "").replace("_", "").isalnum():  # a name, never a path
        return None
    packaged = resources.files("glyph") / "cards" / f"{method}.md"
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    repo = Path(__file__).resolve().parent.parent / "docs" / "methods" / f"{method}.md"
    return repo.read_text(encoding="utf-8") if repo.is_file() else None
