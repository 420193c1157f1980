"""The one place glyph prints: a rich Console for output and one for messages on stderr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape

from glyph.errors import one_line

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    """Global options given before the command (``glyph --device cpu run ...``)."""

    device: str = "auto"
    seed: int | None = None
    precision: str = "auto"
    quiet: bool = False


STATE = State()


def error(message: str) -> None:
    """Print one red error line on stderr."""
    err.print(f"[bold red]error:[/] [red]{escape(one_line(message))}[/]")


def warn(message: str) -> None:
    """Print one yellow warning line on stderr (shown even with --quiet)."""
    err.print(f"[yellow]warning:[/] {escape(one_line(message))}")


def info(message: str) -> None:
    """Print an informational line on stderr unless --quiet."""
    if not STATE.quiet:
        err.print(escape(message))


class TaskBars:
    """Progress of a method's long steps (``RunContext.advance``): a transient bar per task with counts, time
    taken and ETA on a terminal; nothing in logs or under ``--quiet`` (the report that follows says what happened)."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, task: str, done: int, total: int) -> None:
        """Show ``task`` at ``done`` of ``total``."""
        if not err.is_terminal or STATE.quiet:
            return
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True)
            self._progress.start()
        if task not in self._tasks:
            self._tasks[task] = self._progress.add_task(task, total=total)
        self._progress.update(self._tasks[task], completed=done, total=total)

    def close(self) -> None:
        """Remove the bars."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
