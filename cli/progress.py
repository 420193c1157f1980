"""The training progress display: one rich bar with step, it/s, img/s, ETA and the current losses.

The trainer (core) prints nothing; the CLI hands it this display. On a terminal it is a live bar; in logs (no
terminal) it prints one line per logging interval; ``quiet`` prints nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False)


class TrainProgress:
    """Shows a training's progress (a :class:`glyph.trainer.TrainDisplay`)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.total = 0
        self._bar: Progress | None = None

    def start(self, title: str, total: int, start: int) -> None:
        """A training of ``total`` steps starts (or resumes) at step ``start``."""
        self.total = total
        if not self.quiet and sys.stderr.isatty():
            self._bar = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[losses]}"), console=console, transient=False)
            self._task = self._bar.add_task(title, total=total, completed=start, rate="", losses="")
            self._bar.start()

    def update(self, step: int, metrics: dict[str, Any]) -> None:
        """Report ``step`` with its metrics (losses and ``it/s``, ``img/s``)."""
        rate = f"{metrics.get('it/s', 0):.2f} it/s {metrics.get('img/s', 0):.0f} img/s"
        losses = " ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                          if k not in ("it/s", "img/s", "step", "time") and isinstance(v, float))
        if self._bar is not None:
            self._bar.update(self._task, completed=step, rate=rate, losses=losses)
        elif not self.quiet:
            eta = (self.total - step) / max(metrics.get("it/s", 0.0), 1e-9)
            console.print(f"step {step}/{self.total}  {rate}  eta {eta:.0f}s  {losses}")

    def close(self) -> None:
        """Stop the live display."""
        if self._bar is not None:
            self._bar.stop()
