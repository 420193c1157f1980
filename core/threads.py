"""How many CPU threads glyph computes with, and how its idle threads wait: decided in one place.

PyTorch's CPU kernels run on an OpenMP pool (GNU libgomp in the Linux wheels). Out of the box its threads spin
for a while after every parallel region, waiting for the next one. On a machine where something else keeps a
core busy (a browser, a build, another glyph job), a spinning thread holds on to a core it shares, and every
barrier waits for the thread the OS has just put aside: the pool runs slower than one thread would. Measured on
the 2-core AMD EPYC of the development machine, writing 59 characters with dsfgan beside one busy-loop process:
29.8 characters/s with two spinning threads, 51.6 with one thread, 52.0 with two passive threads
(docs/benchmarks.md has the suite that measures it). So glyph

* asks OpenMP to put idle threads to sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a policy; this
  must happen before torch is imported, so ``import glyph`` does it (:func:`prepare_environment`), and only when
  torch is not loaded yet;
* uses as many threads as the CPUs the process may run on: its affinity mask and the cgroup CPU quota (a
  container limited to 2 CPUs on a 64-core host gets 2), not the host's core count;
* lets the user choose, most specific first: ``--threads N`` (or :func:`configure` from Python), then
  ``GLYPH_THREADS``, then ``OMP_NUM_THREADS``, then the usable CPUs. A count above the usable CPUs is lowered to
  them, with a note; ``OMP_NUM_THREADS`` is the user's own setting and is taken as it is.

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
_CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadPlan:
    """What :func:`plan` decided: how many threads, why, and how idle threads wait."""

    threads: int
    cpus: int  # the CPUs this process may use (affinity and quota)
    source: str  # where the count came from: "--threads", "GLYPH_THREADS", "OMP_NUM_THREADS" or "usable CPUs"
    wait: str  # "passive", "OMP_WAIT_POLICY=<user's value>" or "spinning (torch was imported before glyph)"
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
    if user_wait:
        wait = f"OMP_WAIT_POLICY={user_wait}"
    elif environ is None and "torch" in sys.modules and os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":
        wait = "spinning (torch was imported before glyph)"
    else:
        wait = "passive"
    return ThreadPlan(n, cpus, source, wait, tuple(notes))


def prepare_environment() -> None:
    """Ask OpenMP for passive waiting before torch loads it (``import glyph`` calls this; it imports nothing).

    A no-op when the user set ``OMP_WAIT_POLICY`` or when torch is already imported (libgomp reads the variable
    once, when it loads).
    """
    if _USER_WAIT is None and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
