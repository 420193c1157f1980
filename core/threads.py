"""How many CPU threads glyph computes with, and how its idle threads wait: decided in one place.

PyTorch's CPU kernels run on an OpenMP pool (GNU libgomp in the Linux wheels). Out of the box its idle threads
spin for about 3 ms waiting for the next parallel region. On a machine where something else keeps a core busy (a
browser, a build, another glyph job), a spinning thread holds on to a core it shares, and every barrier waits for
the thread the OS has just put aside: the pool runs slower than one thread would. Measured on the 2-core AMD EPYC
of the development machine beside one busy-loop process (docs/benchmarks.md, ``python -m bench cpu``): dsfgan
wrote 38 characters/s with two spinning threads against 61 with one, and adapted at 0.92 s a step against 0.35.
So glyph

* asks OpenMP for short waits (``OMP_WAIT_POLICY=PASSIVE``, and for GNU OpenMP a spin of about 30 microseconds,
  ``GOMP_SPINCOUNT``) unless the user chose a policy; this must happen before torch is imported, so ``import
  glyph`` does it (:func:`prepare_environment`), and only when torch is not loaded yet. Sleeping at once would
  cost the quiet machine a wake-up per region (writing 104 against 121 characters/s, adapting 0.38 against 0.23 s
  a step); the short spin keeps that speed;
* uses as many threads as the CPUs the process may run on: its affinity mask and the cgroup CPU quota (a
  container limited to 2 CPUs on a 64-core host gets 2), not the host's core count;
* lets the user choose, most specific first: ``--threads N`` (or :func:`configure` from Python), then
  ``GLYPH_THREADS``, then ``OMP_NUM_THREADS``, then the usable CPUs. A count above the usable CPUs is lowered to
  them, with a note; ``OMP_NUM_THREADS`` is the user's own setting and is taken as it is;
* in its long loops of inference and adaptation (writing, adapting), times the steps and drops to fewer threads
  while that is faster (:class:`ThreadTuner`): short waits alone do not help a pool whose threads share a busy
  core. Training keeps its count: the thread count changes the order of floating-point sums, and a resumed run
  must repeat the uninterrupted one bit for bit (on a shared CPU, train with ``--threads 1``).

glyph's own worker pools (rendering, synthetic writers, font tracing) take :func:`cpu_budget` workers, so that
together they never ask for more threads than the CPUs glyph may use.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import GlyphError

ENV = "GLYPH_THREADS"
# What the user's environment said before glyph touched it (glyph sets these two for torch to read at import).
_USER_THREADS = os.environ.get("OMP_NUM_THREADS")
_USER_WAIT = os.environ.get("OMP_WAIT_POLICY")
_USER_SPIN = os.environ.get("GOMP_SPINCOUNT")
_CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadPlan:
    """What :func:`plan` decided: how many threads, why, and how idle threads wait."""

    threads: int
    cpus: int  # the CPUs this process may use (affinity and quota)
    source: str  # where the count came from: "--threads", "GLYPH_THREADS", "OMP_NUM_THREADS" or "usable CPUs"
    wait: str  # "short" (glyph's), the user's "OMP_WAIT_POLICY=... GOMP_SPINCOUNT=...", or "spinning (torch was
    # imported before glyph)"
    notes: tuple[str, ...] = field(default=())


def _quota_cpus(root: Path = _CGROUP) -> int | None:
    """CPUs allowed by a cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), rounded up; None without one."""
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        if quota != "max" and period:
            return max(1, math.ceil(int(quota) / int(period)))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota_us > 0 and period_us > 0:
            return max(1, math.ceil(quota_us / period_us))
    except (OSError, ValueError):
        pass
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, capped by a cgroup CPU quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cpus = os.cpu_count() or 1
    quota = _quota_cpus()
    return max(1, min(cpus, quota) if quota else cpus)


def parse_threads(value: object, source: str, cpus: int | None = None) -> int:
    """``value`` as a thread count (a whole number >= 1), or a :class:`GlyphError` naming ``source``.

    :param source: how the user gave it, for the message: ``--threads``, ``GLYPH_THREADS``, ``threads=``.
    """
    cpus = cpus or usable_cpus()
    text = str(value).strip()
    try:
        n = int(text)
    except ValueError:
        n = None
    if n is None or n < 1 or isinstance(value, bool):
        raise GlyphError(f"{source} {text!r} is not a number of threads; give a whole number from 1 to {cpus} "
                         f"(the CPUs glyph may use here){', or unset it' if source == ENV else ''}")
    return n


def plan(requested: int | str | None = None, *, environ: dict[str, str] | None = None) -> ThreadPlan:
    """Decide the thread count and wait policy without changing anything (see the module docstring).

    :param requested: ``--threads`` or :func:`configure`'s argument; None: ``GLYPH_THREADS``, then
        ``OMP_NUM_THREADS``, then the usable CPUs.
    :param environ: the environment to read (default: ``os.environ`` as the user gave it to glyph).
    :raises GlyphError: a count that is not a whole number >= 1.
    """
    env = os.environ if environ is None else environ
    cpus = usable_cpus()
    # Several processes of one run (torchrun, ``glyph train --nproc``) share the CPUs between them.
    local = env.get("LOCAL_WORLD_SIZE")
    share = int(local) if local and local.isdigit() and int(local) > 1 else 1
    budget = max(1, cpus // share)
    notes: list[str] = []
    user_omp = _USER_THREADS if environ is None else env.get("OMP_NUM_THREADS")
    if requested is not None:
        n, source = parse_threads(requested, "--threads", cpus), "--threads"
    elif env.get(ENV, "").strip():
        n, source = parse_threads(env[ENV], ENV, cpus), ENV
    elif user_omp and user_omp.strip().isdigit() and int(user_omp) >= 1:
        n, source = int(user_omp), "OMP_NUM_THREADS"
    else:
        n, source = budget, "usable CPUs"
    if source in ("--threads", ENV) and n > budget:
        where = f"of the {cpus} CPUs glyph may use here, shared by {share} processes" if share > 1 else \
            f"glyph may use here ({cpus})"
        notes.append(f"{source} {n} is more than the CPUs {where}; using {budget}")
        n = budget
    user_wait = _USER_WAIT if environ is None else env.get("OMP_WAIT_POLICY")
    user_spin = _USER_SPIN if environ is None else env.get("GOMP_SPINCOUNT")
    if user_wait or user_spin:
        wait = " ".join(f"{k}={v}" for k, v in (("OMP_WAIT_POLICY", user_wait), ("GOMP_SPINCOUNT", user_spin)) if v)
    elif environ is None and "torch" in sys.modules and os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":
        wait = "spinning (torch was imported before glyph)"
    else:
        wait = "short"
    return ThreadPlan(n, cpus, source, wait, tuple(notes))


SPIN = "3000"  # GNU OpenMP's spin count before an idle thread sleeps (about 30 microseconds; its own default: 300,000)


def prepare_environment() -> None:
    """Ask OpenMP for short waits before torch loads it (``import glyph`` calls this; it imports nothing).

    ``OMP_WAIT_POLICY=PASSIVE`` is the standard request (LLVM's and Intel's OpenMP then sleep at once); GNU
    OpenMP, which torch's Linux wheels use, is given ``GOMP_SPINCOUNT`` as well, a short spin before sleeping:
    the next parallel region of a step usually starts within microseconds, and a thread that sleeps at once pays
    a wake-up for each (measured with one and the other in docs/benchmarks.md). A no-op when the user set either
    variable or when torch is already imported (OpenMP reads them once, when it loads).
    """
    if _USER_WAIT is None and _USER_SPIN is None and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        os.environ.setdefault("GOMP_SPINCOUNT", SPIN)


def configure(threads: int | str | None = None) -> ThreadPlan:
    """Apply :func:`plan`: the thread count goes to torch now if it is loaded, else into ``OMP_NUM_THREADS`` for
    torch to read when it loads (so the CLI's ``--threads`` costs no torch import).

    Called by the CLI (``--threads``), :func:`glyph.load`, :func:`glyph.train` and :func:`glyph.evaluate`; call it
    from Python to choose a count (``glyph.threads.configure(1)``), before or after importing torch.

    :raises GlyphError: a count that is not a whole number >= 1 (given here or in ``GLYPH_THREADS``).
    """
    global _CHOSEN
    if threads is None and _CHOSEN is not None:
        chosen = plan(_CHOSEN)  # an explicit choice holds until another one is made
    else:
        chosen = plan(threads)
        if threads is not None:
            _CHOSEN = chosen.threads
    prepare_environment()
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != chosen.threads:
            torch.set_num_threads(chosen.threads)
    elif chosen.source != "OMP_NUM_THREADS":
        os.environ["OMP_NUM_THREADS"] = str(chosen.threads)
    return chosen


_CHOSEN: int | None = None


def child_environment(processes: int) -> dict[str, str]:
    """The environment for ``processes`` glyph processes started together (``glyph train --nproc``): each gets an
    equal share of :func:`cpu_budget` as ``OMP_NUM_THREADS`` (torchrun would give each one thread), unless the
    user set ``OMP_NUM_THREADS`` themselves."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = _USER_THREADS or str(max(1, cpu_budget() // max(1, processes)))
    return env


def cpu_budget() -> int:
    """How many worker processes (or threads) glyph's own pools may start: the thread count :func:`configure`
    chose, or :func:`plan`'s when nothing was configured. Never raises (a bad ``GLYPH_THREADS`` is reported by
    :func:`configure`, which every entry point calls first)."""
    try:
        return plan(_CHOSEN).threads
    except GlyphError:
        return usable_cpus()


class ThreadTuner:
    """Chooses the thread count of a loop of alike steps by timing them, while it runs.

    On a quiet machine all the CPUs glyph may use are fastest. While another program keeps a core busy, the
    thread that shares that core gets part of it, and every parallel region waits for it: fewer threads are
    then faster (adapting on 8 references, measured beside one busy core: 0.35 s a step with one thread, 0.63 with
    two). Which case holds can change during a job, so the tuner times a few steps with each candidate count (all
    the threads, then one), keeps the fastest, and tries the others again after a while, less often each time
    the choice stands.

    Used as ``with ThreadTuner() as tune: for ...: work(); tune.step()``; torch's thread count is restored on
    leaving. It does nothing when the user chose a count (``--threads``, ``GLYPH_THREADS``, ``OMP_NUM_THREADS``)
    or when only one thread is in play.
    """

    def __init__(self, active: bool = True, trial: int = 3, every: int = 20, max_every: int = 160) -> None:
        """:param active: False leaves the count alone (work on a GPU, where CPU threads barely matter)."""
        self.active, self.trial, self.every, self.max_every = active, trial, every, max_every
        self.enabled = False
        self.choices: list[tuple[int, int]] = []  # (step, threads) each time the choice changed

    def __enter__(self) -> ThreadTuner:
        import time

        import torch

        self._torch, self._clock = torch, time.perf_counter
        self.start = torch.get_num_threads()
        try:
            source = plan(_CHOSEN).source
        except GlyphError:
            source = "--threads"
        self.enabled = self.active and self.start > 1 and _CHOSEN is None and source == "usable CPUs"
        self.candidates = [self.start, 1] if self.enabled else [self.start]
        self.times: dict[int, list[float]] = {n: [] for n in self.candidates}
        self.current = self.best = self.start
        self.steps, self.wait, self.warm = 0, self.every, True
        # The loop's first step pays for warm-up (kernels chosen, caches filled) and is not timed.
        self.queue = [n for n in self.candidates for _ in range(self.trial)] if self.enabled else []
        self.probing = self.enabled
        self.last = self._clock()
        return self

    def step(self) -> None:
        """Call after each step: times it and sets the thread count for the next one."""
        now = self._clock()
        elapsed, self.last = now - self.last, now
        self.steps += 1
        if not self.enabled:
            return
        if self.warm:
            self.warm = False
        else:
            times = self.times[self.current]
            times.append(elapsed)
            del times[:-4 * self.trial]  # only recent steps matter (and a long loop keeps no growing list)
        if self.probing:
            if self.queue:
                self._use(self.queue.pop(0))
                return
            self.probing = False
            self._settle()
            return
        self.wait -= 1
        if self.wait <= 0:  # try the others again: the machine's load may have changed
            others = [n for n in self.candidates if n != self.best]
            for n in others:
                self.times[n] = []
            self.queue = [n for n in others for _ in range(self.trial)]
            self.probing = True
            self._use(self.queue.pop(0))

    def _settle(self) -> None:
        def median(xs: list[float]) -> float:
            xs = sorted(xs)
            return xs[len(xs) // 2] if xs else float("inf")

        best = min(self.candidates, key=lambda n: median(self.times[n][-self.trial:]))
        # The choice stood: look again later; it changed: sooner.
        self.every = min(self.max_every, self.every * 2) if best == self.best else max(self.trial, self.every // 2)
        self.wait = self.every
        if best != self.best or not self.choices:
            self.choices.append((self.steps, best))
        self.best = best
        self._use(best)

    def _use(self, n: int) -> None:
        if n != self.current:
            self._torch.set_num_threads(n)
            self.current = n

    def __exit__(self, *exc: object) -> None:
        if self.enabled and self._torch.get_num_threads() != self.start:
            self._torch.set_num_threads(self.start)
