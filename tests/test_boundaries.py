"""The layers hold: core never imports the CLI or a plugin, no plugin imports another, core prints nothing, and the
command names a plugin may not take are exactly the CLI's own.

Tools that follow imports miss these breaks because core/ is installed as ``glyph``, so the source is read here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORE, PLUGINS = REPO / "core", REPO / "plugins"


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Every module ``path`` imports (relative imports resolved against ``package``), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found += [(node.lineno, f"{name}.{a.name}") for a in node.names]
    return found


def _package(path: Path) -> str:
    """The installed package a source file belongs to (core/ -> glyph, plugins/ -> glyph.plugins)."""
    rel = path.relative_to(REPO)
    root = {"core": "glyph", "plugins": "glyph.plugins", "cli": "glyph.cli"}[rel.parts[0]]
    return ".".join([root, *rel.parts[1:-1]])


def test_core_imports_neither_the_cli_nor_a_plugin():
    bad = []
    for path in sorted(CORE.rglob("*.py")):
        if path.name == "__main__.py":  # `python -m glyph` is the CLI's door, by design
            continue
        for line, name in _imports(path, _package(path)):
            if name.startswith(("glyph.cli", "glyph.plugins")):
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not bad, "core must not depend on the CLI or on plugins:\n" + "\n".join(bad)


def test_core_draws_no_terminal_output():
    """Progress and messages are the CLI's: core hands them over (``RunContext.advance``, the trainer's
    ``display`` and ``on_note``) and never imports a terminal library."""
    bad = [f"{path.relative_to(REPO)}:{line} imports {name}"
           for path in sorted(CORE.rglob("*.py")) if path.name != "__main__.py"
           for line, name in _imports(path, _package(path)) if name == "rich" or name.startswith("rich.")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("plugin", sorted(p.name for p in PLUGINS.iterdir() if (p / "plugin.py").exists()))
def test_no_plugin_imports_another(plugin):
    bad = []
    for path in sorted((PLUGINS / plugin).rglob("*.py")):
        for line, name in _imports(path, _package(path)):
            parts = name.split(".")
            if name.startswith("glyph.plugins.") and len(parts) > 2 and parts[2] != plugin:
                bad.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not bad, "a plugin uses only glyph's public core, never another plugin:\n" + "\n".join(bad)


def test_core_prints_nothing():
    """Only the CLI prints; core reports through return values, errors and events (a module's own
    ``if __name__ == "__main__"`` maintenance entry is not core's behaviour and may print)."""
    bad = []
    for path in sorted(CORE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        main_blocks = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
        skip = {id(n) for block in main_blocks for n in ast.walk(block)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
                    and id(node) not in skip):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not bad, "core must not print:\n" + "\n".join(bad)


def test_reserved_command_names_are_the_clis_own():
    import typer

    from glyph.cli.main import build_app
    from glyph.loader import get_registry
    from glyph.registry import RESERVED_COMMANDS

    names = set(typer.main.get_command(build_app()).commands)
    assert set(RESERVED_COMMANDS) == names - set(get_registry().commands)
