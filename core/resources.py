"""Files that ship inside the glyph package (examples), addressed as ``example:NAME``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import GlyphError, did_you_mean

EXAMPLE_PREFIX = "example:"


def examples_root() -> Path:
    """The folder of bundled example inputs."""
    return Path(str(resources.files("glyph") / "assets" / "examples"))


def list_examples() -> list[str]:
    """Names usable as ``example:NAME``."""
    root = examples_root()
    return sorted(p.name for p in root.iterdir() if not p.name.startswith((".", "_"))) if root.is_dir() else []


def resolve_input(value: str | Path) -> Path:
    """Turn a user's input argument into a path; ``example:NAME`` names a bundled example."""
    text = str(value)
    if not text.startswith(EXAMPLE_PREFIX):
        return Path(value).expanduser()
    name = text[len(EXAMPLE_PREFIX):]
    path = examples_root() / name
    if not name or not path.exists():
        names = list_examples()
        raise GlyphError(f"no bundled example '{name}'{did_you_mean(name, names)}; "
                         f"available: {', '.join('example:' + n for n in names) or 'none'}")
    return path
