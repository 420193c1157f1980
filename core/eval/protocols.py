"""What the protocol commands share: the model they measure and the table of rows they return.

``glyph eval fewshot`` (:func:`glyph.eval.fewshot.run_fewshot`) and ``glyph eval restore``
(:func:`glyph.eval.restore.run_restore`) measure a trained method on the held-out splits of a writers dataset
and return a :class:`ProtocolResult`: every row with its numbers, the cells of the table the CLI prints, and
the record (rows and protocol) that ``--json`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GlyphError


@dataclass
class ProtocolResult:
    """The rows of a protocol run.

    :ivar title: the table's title.
    :ivar columns: the table's column names; the first ``labels`` of them are text, the rest numbers.
    :ivar cells: one list of formatted cells per row, in ``columns`` order.
    :ivar rows: one dict per row with every number (the JSON record's ``rows``).
    :ivar protocol: what the numbers depend on (data fingerprint, weights, seeds, judge).
    :ivar written: pictures written (``pictures=``).
    """

    title: str
    columns: list[str]
    labels: int
    cells: list[list[str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON record: ``{"rows": [...], "protocol": {...}}``."""
        return {"rows": self.rows, "protocol": self.protocol}


def metric_names(metrics: str | list[str] | tuple[str, ...]) -> list[str]:
    """Metric names from a list or a comma-separated string, each checked against the registry."""
    from ..loader import get_registry

    names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    if not names:
        raise GlyphError("give at least one metric; `glyph eval --list` lists them")
    for m in names:
        get_registry().metric(m)  # an unknown name fails before any work, with a did-you-mean
    return names


def load_measured(method: str, weights: str | Path | None, verb: str, what: str, device: Any) -> tuple[Any, Path]:
    """(model, weights folder) for a protocol run; ``verb`` is the function the protocol calls, e.g.
    ``"stylize(refs, templates)"``, and ``what`` the kind of method it needs ("few-shot")."""
    from ..loader import get_registry
    from ..trainer import load_run

    folder = Path(weights) if weights is not None else get_registry().method(method).obj.shipped_weights()
    if folder is None:
        raise GlyphError(f"method '{method}' ships no weights; give --weights RUN_FOLDER")
    model = load_run(folder, None if weights is not None else method, device=device)
    if not hasattr(model, verb.split("(")[0]):
        raise GlyphError(f"method '{model.name}' is not a {what} method (it has no {verb})")
    return model, folder


def check_per_writer(per_writer: int) -> None:
    """Refuse a per-writer count below one."""
    if isinstance(per_writer, bool) or not isinstance(per_writer, int) or per_writer < 1:
        raise GlyphError(f"--per-writer must be at least 1, got {per_writer}")


def split_names(splits: str | list[str] | tuple[str, ...], allowed: tuple[str, ...] = ("SFUC", "UFUC")) -> list[str]:
    """Split names from a list or a comma-separated string, upper-cased and checked."""
    names = [s.strip().upper() for s in (splits.split(",") if isinstance(splits, str) else splits) if s.strip()]
    for s in names:
        if s not in allowed:
            raise GlyphError(f"unknown split {s!r}: use {' or '.join(allowed)}")
    if not names:
        raise GlyphError(f"give at least one split: {' or '.join(allowed)}")
    return names


def number(value: Any) -> str:
    """A table cell for a metric value, ``-`` when it was not measured (or could not be: NaN)."""
    return "-" if value is None or value != value else f"{value:.4f}"
