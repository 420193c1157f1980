"""Per-visitor folders of glyph studio: each browser session gets a temporary folder under the studio's root,
named by a random id in its cookie; nothing a visitor sends picks a path. A session is removed with its files when
its visitor ends it, after it has been idle too long, when too many are open (the least recently used first) and
when the server stops.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GlyphError
from .uploads import Limits, size_text

_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
#: A session untouched this many seconds may be removed to make room for a new visitor when the studio is full.
EVICT_IDLE = 600.0


class StudioBusy(GlyphError):
    """No room for another session now."""


@dataclass
class Session:
    """One visitor's state: its folder and the references it holds.

    ``refs/`` holds what dsfgan reads (the uploaded photos under made-up names, sheet cells as PNG),
    ``previews/`` the normalised glyph of each, ``jobs/JOB/`` what each job wrote.
    """

    id: str
    folder: Path
    touched: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # One upload at a time per session: the reference limit and duplicate checks read what is there.
    uploading: asyncio.Lock = field(default_factory=asyncio.Lock)
    counter: int = 0

    def empty(self) -> bool:
        """Whether the session holds nothing yet (no reference, no result)."""
        return not any(self.previews.iterdir()) and not any(self.jobs.iterdir())

    @property
    def refs(self) -> Path:
        """What dsfgan reads: the uploaded photos under made-up names, sheet cells as PNG."""
        return self.folder / "refs"

    @property
    def previews(self) -> Path:
        """The normalised glyph of each reference (PNG) and what the page shows of it (JSON)."""
        return self.folder / "previews"

    @property
    def jobs(self) -> Path:
        """One folder per job, with what it wrote."""
        return self.folder / "jobs"

    def next_number(self) -> int:
        """A number unique within the session (for made-up file names)."""
        with self.lock:
            self.counter += 1
            return self.counter

    def bytes_used(self) -> int:
        """Disk the session's files take."""
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def make_room(self, limit: int, keep: str | None = None) -> None:
        """Remove the oldest job folders (never ``keep``) until the session is under ``limit`` bytes.

        :raises GlyphError: still over the limit (its references alone fill it).
        """
        if self.bytes_used() <= limit:
            return
        olds = sorted((p for p in self.jobs.iterdir() if p.is_dir() and p.name != keep),
                      key=lambda p: p.stat().st_mtime) if self.jobs.is_dir() else []
        for old in olds:
            shutil.rmtree(old, ignore_errors=True)
            if self.bytes_used() <= limit:
                return
        raise GlyphError(f"this session holds more than {size_text(limit)}; remove some references or press "
                         f"Start over")


class Sessions:
    """All sessions of one studio, under ``root`` (a fresh temporary folder the studio owns)."""

    def __init__(self, root: Path, limits: Limits, on_drop: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.limits = limits
        self.on_drop = on_drop  # told each session id removed (the queue cancels its jobs)
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)

    def get(self, sid: str | None, create: bool = True) -> Session | None:
        """The live session of the cookie ``sid``; a new one when there is none (or None when not ``create``)."""
        self.reap()
        with self._lock:
            s = self._by_id.get(sid or "") if sid and _ID.match(sid) else None
            if s is None:
                if not create:
                    return None
                if len(self._by_id) >= self.limits.sessions:
                    # Make room from sessions that hold nothing, then from ones left alone for a while: a flood of
                    # new visitors must not end the work of someone who is using the studio.
                    now = time.monotonic()
                    spare = [x for x in self._by_id.values() if x.empty() or now - x.touched >= EVICT_IDLE]
                    if not spare:
                        raise StudioBusy(f"the studio is serving {len(self._by_id)} sessions, its most; try again "
                                         f"in a few minutes")
                    self._drop(min(spare, key=lambda x: (not x.empty(), x.touched)).id)
                new_id = secrets.token_urlsafe(24)
                s = Session(new_id, self.root / new_id)
                for sub in (s.refs, s.previews, s.jobs):
                    sub.mkdir(parents=True)
                self._by_id[new_id] = s
            s.touched = time.monotonic()
            return s

    def end(self, sid: str) -> bool:
        """Remove the session ``sid`` and its files; False when there was none."""
        with self._lock:
            return self._drop(sid)

    def reap(self) -> int:
        """Remove sessions idle longer than the limit; returns how many were removed."""
        now = time.monotonic()
        with self._lock:
            stale = [k for k, s in self._by_id.items() if now - s.touched > self.limits.idle_seconds]
            for k in stale:
                self._drop(k)
        return len(stale)

    def close(self) -> None:
        """Remove every session and the root folder (the server is stopping)."""
        with self._lock:
            for k in list(self._by_id):
                self._drop(k)
        shutil.rmtree(self.root, ignore_errors=True)

    def __len__(self) -> int:
        return len(self._by_id)

    def _drop(self, sid: str) -> bool:
        s = self._by_id.pop(sid, None)
        if s is None:
            return False
        if self.on_drop is not None:
            self.on_drop(sid)
        shutil.rmtree(s.folder, ignore_errors=True)
        return True


def session_file(session: Session, rel: str) -> Path:
    """The file ``rel`` (as the studio's own URLs name it) inside ``session``'s folder.

    :raises GlyphError: a name with ``..``, an absolute path or anything that leaves the folder.
    """
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") or "\\" in p or p.startswith(".") for p in parts):
        raise GlyphError("no such file in this session")
    try:
        path = (session.folder / rel).resolve()
        root = session.folder.resolve()
        found = root in path.parents and path.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        found = False
    if not found:
        raise GlyphError("no such file in this session")
    return path
