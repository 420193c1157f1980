"""Ranges for numeric options: a bad number is one clear line (exit 1) before any work starts.

Click's own ``min``/``max`` let NaN through (every comparison with NaN is false) and print a usage
box; these callbacks refuse NaN and infinity too, and raise :class:`GlyphError` like every other
mistake a user can fix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import typer

from glyph.errors import GlyphError


def bounded(low: float | None = None, high: float | None = None, *, above: bool = False,
            unit: str = "") -> Callable[[typer.CallbackParam, Any], Any]:
    """A Typer ``callback`` accepting ``low <= value <= high`` (``low < value`` with ``above``); None passes.

    :param unit: said after the bounds in the message, e.g. ``"pixels"``.
    """
    def check(param: typer.CallbackParam, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        name = max(param.opts, key=len) if param.opts else param.name
        if isinstance(value, float) and not math.isfinite(value):
            raise GlyphError(f"{name} must be a finite number, got {value}")
        too_low = low is not None and (value <= low if above else value < low)
        too_high = high is not None and value > high
        if too_low or too_high:
            raise GlyphError(f"{name} must be {_range(low, high, above)}{' ' + unit if unit else ''}, got {value}")
        return value

    return check


def _range(low: float | None, high: float | None, above: bool) -> str:
    if low is not None and high is not None and not above:
        return f"between {low:g} and {high:g}"
    parts = []
    if low is not None:
        parts.append(f"{'above' if above else 'at least'} {low:g}")
    if high is not None:
        parts.append(f"at most {high:g}")
    return " and ".join(parts)


# Shared bounds: an image side glyph can hold in memory by the thousands, a share, a count of things.
SIZE = bounded(8, 1024, unit="pixels")
SHARE = bounded(0, 1)
COUNT = bounded(1)
