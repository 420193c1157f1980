"""The one place glyph prints: a rich Console for output and one for messages on stderr."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    """Global options given before the command (``glyph --device cpu run ...``)."""

    device: str = "auto"
    seed: int | None = None
    quiet: bool = False


STATE = State()


def error(message: str) -> None:
    """Print one red error line on stderr."""
    err.print(f"[bold red]error:[/] [red]{escape(message)}[/]")


def warn(message: str) -> None:
    """Print one yellow warning line on stderr (shown even with --quiet)."""
    err.print(f"[yellow]warning:[/] {escape(message)}")


def info(message: str) -> None:
    """Print an informational line on stderr unless --quiet."""
    if not STATE.quiet:
        err.print(escape(message))
