"""The studio's work queue: one worker thread owns the models and runs jobs one at a time, in the order they
came, so twenty visitors share one model in bounded memory instead of loading twenty. Pages poll a job for its
place in the queue, its progress (the method's own :meth:`glyph.RunContext.advance` calls) and its result; a job
can be cancelled while it waits or at its next progress step.
"""

from __future__ import annotations

import collections
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import Cancelled, GlyphError, one_line
from ..method import RunContext

log = logging.getLogger("glyph.studio")

#: Finished jobs kept for their pages to read (the oldest are forgotten first; their files stay in the session).
KEEP_FINISHED = 256


@dataclass
class Job:
    """One request's work. ``status``: queued, running, done, failed or cancelled."""

    id: str
    kind: str
    session: str
    work: Callable[[RunContext], dict[str, Any]]
    status: str = "queued"
    task: str = ""
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def record(self, position: int | None = None) -> dict[str, Any]:
        """What the page sees."""
        return {"id": self.id, "kind": self.kind, "status": self.status, "task": self.task, "done": self.done,
                "total": self.total, "position": position, "result": self.result, "error": self.error,
                "notes": self.notes, "skipped": [{"what": w, "why": y} for w, y in self.skipped]}


class Models:
    """Methods loaded once through :func:`glyph.load` and kept (used by the worker thread only)."""

    def __init__(self, device: str = "auto", precision: str = "auto") -> None:
        self.device = device
        self.precision = precision
        self._loaded: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        """The method ``name`` ready to use, loaded on first use."""
        if name not in self._loaded:
            import glyph

            self._loaded[name] = glyph.load(name, device=self.device, precision=self.precision)
        return self._loaded[name]


class JobQueue:
    """A FIFO of jobs and the one thread that runs them."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._waiting: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._finished: collections.deque[str] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.running: Job | None = None
        self._thread = threading.Thread(target=self._loop, name="glyph-studio-worker", daemon=True)
        self._thread.start()

    def submit(self, kind: str, session: str, work: Callable[[RunContext], dict[str, Any]]) -> Job:
        """Queue ``work`` (called with a RunContext whose progress and cancel are this job's).

        :raises GlyphError: the queue is full or the server is stopping.
        """
        with self._cond:
            if self._stopping:
                raise GlyphError("the studio is stopping; start it again with glyph serve")
            if len(self._waiting) >= self.limit:
                raise GlyphError(f"the studio is busy ({len(self._waiting)} jobs waiting); try again in a minute")
            job = Job(secrets.token_hex(8), kind, session, work)
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._cond.notify()
            return job

    def get(self, job_id: str, session: str) -> tuple[Job, int | None]:
        """The job ``job_id`` of ``session`` and its place in the queue (1 = next; None once it runs).

        :raises GlyphError: no such job in this session (or it was forgotten).
        """
        with self._cond:
            job = self._jobs.get(job_id)
            if job is None or job.session != session:
                raise GlyphError("this job is gone: the session was ended (Start over, or another tab) or the studio "
                                 "restarted; reload the page")
            position = None
            if job.status == "queued":
                position = next((i + 1 for i, j in enumerate(self._waiting) if j is job), None)
            return job, position

    def of_session(self, session: str) -> list[dict[str, Any]]:
        """The waiting and running jobs of ``session``, oldest first (a reloaded page follows them again)."""
        with self._cond:
            active = [j for j in self._jobs.values() if j.session == session and j.status in ("queued", "running")]
            order = {j.id: i + 1 for i, j in enumerate(self._waiting)}
            return [j.record(order.get(j.id)) for j in sorted(active, key=lambda j: j.created)]

    def cancel(self, job_id: str, session: str) -> Job:
        """Cancel a job: a waiting one is dropped now, a running one stops at its next progress step."""
        job, _ = self.get(job_id, session)
        with self._cond:
            job.cancel.set()
            if job.status == "queued":
                self._waiting.remove(job)
                self._finish(job, "cancelled")
        return job

    def cancel_session(self, session: str) -> None:
        """Cancel every job of ``session`` (it is ending)."""
        with self._cond:
            ids = [j.id for j in self._jobs.values() if j.session == session and j.status in ("queued", "running")]
        for i in ids:
            self.cancel(i, session)

    def stop(self, timeout: float = 30.0) -> bool:
        """Refuse new jobs, cancel the waiting ones and the running one (at its next progress step) and wait for
        the worker; returns whether it ended within ``timeout`` seconds."""
        with self._cond:
            self._stopping = True
            while self._waiting:
                job = self._waiting.popleft()
                job.cancel.set()
                self._finish(job, "cancelled")
            if self.running is not None:
                self.running.cancel.set()
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def pending(self) -> int:
        """Jobs waiting or running."""
        with self._cond:
            return len(self._waiting) + (self.running is not None)

    def _finish(self, job: Job, status: str) -> None:
        job.status = status
        job.finished = time.time()
        self._finished.append(job.id)
        while len(self._finished) > KEEP_FINISHED:
            self._jobs.pop(self._finished.popleft(), None)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._waiting:
                    return
                job = self._waiting.popleft()
                job.status = "running"
                self.running = job
            self._run(job)
            with self._cond:
                self.running = None

    def _run(self, job: Job) -> None:
        def progress(task: str, done: int, total: int) -> None:
            job.task, job.done, job.total = task, done, total

        ctx = RunContext(progress=progress, cancel=job.cancel.is_set)
        status = "done"
        try:
            ctx.check_cancel()
            job.result = job.work(ctx)
        except Cancelled:
            status = "cancelled"
        except GlyphError as e:
            status, job.error = "failed", one_line(str(e))
        except MemoryError:
            status, job.error = "failed", "out of memory; try a shorter text or fewer images"
        except Exception as e:  # a bug must not take the studio down: the page gets a line, the log the trace
            log.exception("studio job %s (%s) failed", job.id, job.kind)
            status, job.error = "failed", f"internal error ({type(e).__name__}); the server log has the details"
        job.notes = list(ctx.report.notes)
        job.skipped = list(ctx.report.problems)
        with self._cond:
            self._finish(job, status)
