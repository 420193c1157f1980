"""Errors that reach the user.

A :class:`GlyphError` is a mistake the user can fix (a missing file, a bad option, an unknown method).
The CLI prints its message as one red line and exits with code 1, never a traceback, so the message
must say what was wrong, the value seen, and what to do instead.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable


class GlyphError(Exception):
    """A user-facing error: one line that says what went wrong and how to fix it."""


class PluginError(GlyphError):
    """A plugin failed to load or to register (raised only in strict mode; otherwise reported)."""


class Cancelled(GlyphError):
    """The caller asked a long job to stop (:attr:`glyph.RunContext.cancel`); nothing more was written."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def one_line(message: str) -> str:
    """Return ``message`` as one line: control and bidi-override characters shown as escapes (``\\n``, ``\\u202e``).

    Messages quote what the user typed (a method name, a file name, an id from a URL), which may hold a newline or a
    character that reverses the text after it; the line the user reads must still be one honest line.
    """
    if message.isprintable():
        return message
    shown = []
    for ch in message:
        if ch.isprintable() or ch == " ":
            shown.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") or not ch.isprintable():
            shown.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(shown)
