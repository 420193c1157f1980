"""glyph.threads: how many CPU threads glyph computes with, where the count comes from, and passive waiting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from glyph import GlyphError
from glyph import threads as T

from .conftest import glyph_env, run_glyph


def _python(code: str, **env: str) -> str:
    e = glyph_env(**env)
    for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if key not in env:
            e.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_quota_of_cgroup_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert T._quota_cpus(tmp_path) == 2  # 1.5 CPUs of time: two threads can use it
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert T._quota_cpus(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert T._quota_cpus(v1) == 3
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert T._quota_cpus(v1) is None
    assert T._quota_cpus(tmp_path / "nothing") is None


def test_usable_cpus_take_affinity_and_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    monkeypatch.setattr(T, "_quota_cpus", lambda root=None: None)
    assert T.usable_cpus() == 8
    monkeypatch.setattr(T, "_quota_cpus", lambda root=None: 2)  # a container limited to 2 CPUs of a big host
    assert T.usable_cpus() == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert T.usable_cpus() == 1


def test_plan_order_of_sources(monkeypatch):
    monkeypatch.setattr(T, "usable_cpus", lambda: 4)
    assert T.plan(environ={}).threads == 4 and T.plan(environ={}).source == "usable CPUs"
    assert T.plan(environ={"OMP_NUM_THREADS": "3"}) .threads == 3
    assert T.plan(environ={"OMP_NUM_THREADS": "3", T.ENV: "2"}).source == T.ENV
    chosen = T.plan(1, environ={"OMP_NUM_THREADS": "3", T.ENV: "2"})
    assert (chosen.threads, chosen.source, chosen.notes) == (1, "--threads", ())
    # The user's own OMP_NUM_THREADS is taken as it is; glyph's own settings are capped at the CPUs, with a note.
    assert T.plan(environ={"OMP_NUM_THREADS": "16"}).threads == 16
    many = T.plan(999, environ={})
    assert many.threads == 4 and "999 is more than the CPUs" in many.notes[0] and "using 4" in many.notes[0]
    assert T.plan(environ={T.ENV: "64"}).threads == 4
    # Processes of one torchrun share the CPUs.
    shared = T.plan(environ={"LOCAL_WORLD_SIZE": "2"})
    assert shared.threads == 2
    assert T.plan(4, environ={"LOCAL_WORLD_SIZE": "2"}).threads == 2


def test_plan_wait_policy(monkeypatch):
    assert T.plan(environ={}).wait == "short"
    assert T.plan(environ={"OMP_WAIT_POLICY": "ACTIVE"}).wait == "OMP_WAIT_POLICY=ACTIVE"
    assert T.plan(environ={"GOMP_SPINCOUNT": "0"}).wait == "GOMP_SPINCOUNT=0"


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", "", " "])
def test_bad_counts_are_one_clear_error(bad, monkeypatch):
    monkeypatch.setattr(T, "usable_cpus", lambda: 2)
    with pytest.raises(GlyphError, match=r"is not a number of threads; give a whole number from 1 to 2"):
        T.plan(bad, environ={})
    if bad.strip():
        with pytest.raises(GlyphError, match=r"GLYPH_THREADS .* or unset it"):
            T.plan(environ={T.ENV: bad})


def test_import_glyph_asks_for_short_waits_before_torch_loads():
    show = "import os, glyph; print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
    assert _python(show) == f"PASSIVE {T.SPIN}"
    # The user's setting wins; after torch is loaded it is too late and glyph leaves the variables alone.
    assert _python(show, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE None"
    assert _python(show, GOMP_SPINCOUNT="0") == "None 0"
    code = "import os, torch, glyph; print(os.environ.get('OMP_WAIT_POLICY'), glyph.threads.plan().wait)"
    assert _python(code) == "None spinning (torch was imported before glyph)"


def test_configure_reaches_torch_before_and_after_it_loads():
    before = "import glyph; glyph.threads.configure(1); import torch; print(torch.get_num_threads())"
    assert _python(before) == "1"
    after = ("import torch, glyph; glyph.threads.configure(1); a = torch.get_num_threads(); "
             "glyph.load('filter'); print(a, torch.get_num_threads())")
    assert _python(after) == "1 1"  # an explicit choice holds through glyph.load
    assert _python("import glyph; glyph.load('filter'); import torch; print(torch.get_num_threads())",
                   GLYPH_THREADS="1") == "1"
    assert _python("import glyph, torch; glyph.load('filter'); print(torch.get_num_threads())",
                   OMP_NUM_THREADS="1") == "1"


def test_child_environment_shares_the_cpus(monkeypatch):
    monkeypatch.setattr(T, "_USER_THREADS", None)
    monkeypatch.setattr(T, "cpu_budget", lambda: 4)
    assert T.child_environment(2)["OMP_NUM_THREADS"] == "2"
    assert T.child_environment(8)["OMP_NUM_THREADS"] == "1"
    monkeypatch.setattr(T, "_USER_THREADS", "3")
    assert T.child_environment(2)["OMP_NUM_THREADS"] == "3"


def test_cli_threads_option():
    for bad in ("0", "-1", "many"):
        r = run_glyph("--threads", bad, "list")
        assert r.code == 1 and r.err.count("\n") == 1 and "is not a number of threads" in r.err, r.err
    r = run_glyph("list", GLYPH_THREADS="x")
    assert r.code == 1 and "GLYPH_THREADS 'x' is not a number of threads" in r.err
    r = run_glyph("--threads", "999", "info", "filter")
    assert r.code == 0 and "--threads 999 is more than the CPUs" in r.err


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _drive(cost, steps: int, monkeypatch) -> tuple[T.ThreadTuner, list[int]]:
    """Run a ThreadTuner over ``steps`` steps whose duration is ``cost(step, threads)``; the counts used."""
    import torch

    monkeypatch.setattr(T, "_CHOSEN", None)
    monkeypatch.setattr(T, "plan", lambda *a, **k: T.ThreadPlan(2, 2, "usable CPUs", "short"))
    torch.set_num_threads(2)
    used = []
    clock = _Clock()
    with T.ThreadTuner() as tune:
        tune._clock, tune.last = clock, 0.0
        for step in range(steps):
            n = torch.get_num_threads()
            used.append(n)
            clock.now += cost(step, n)
            tune.step()
    assert torch.get_num_threads() == 2  # restored on leaving
    return tune, used


def test_tuner_keeps_all_threads_on_a_quiet_machine(monkeypatch):
    tune, used = _drive(lambda step, n: 1.0 if n == 2 else 1.6, 150, monkeypatch)
    assert tune.best == 2 and used.count(1) <= 12  # a few probes, less often as the choice stands


def test_tuner_drops_to_one_thread_beside_a_busy_core_and_comes_back(monkeypatch):
    tune, used = _drive(lambda step, n: 2.0 if n == 2 else 1.0, 150, monkeypatch)
    assert tune.best == 1 and used[10:].count(2) <= 12
    # The other program stops at step 60: two threads are fastest again, and the tuner notices.
    tune, used = _drive(lambda step, n: (2.0 if n == 2 else 1.0) if step < 60 else (0.6 if n == 2 else 1.0), 200,
                        monkeypatch)
    assert tune.best == 2 and used[-20:].count(2) >= 17


def test_tuner_leaves_a_users_count_alone(monkeypatch):
    import torch

    torch.set_num_threads(2)
    monkeypatch.setattr(T, "_CHOSEN", 2)  # --threads 2
    with T.ThreadTuner() as tune:
        for _ in range(20):
            tune.step()
            assert torch.get_num_threads() == 2
    assert not tune.enabled
    monkeypatch.setattr(T, "_CHOSEN", None)
    with T.ThreadTuner(active=False) as tune:  # work on a GPU
        assert not tune.enabled
