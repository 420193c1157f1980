"""The benchmark suite's building blocks (bench/), at the methods' tiny presets: they run, count and report right.

The numbers themselves are not checked (speed targets live in docs/benchmarks.md, not in timed tests); what is
checked is that the measurements mean what they claim: FLOP counts match the analytic values, the plain
references do the same work as glyph's steps, targets are reported with the gap when missed.
"""

from __future__ import annotations

import math

import pytest
import torch

from bench import cpu, gpu, methods, peak, reference, sample
from bench import train as train_suite


def _tiny(method: str) -> dict:
    from glyph.loader import get_registry

    return get_registry().method(method).catalogue["presets"]["tiny"]


@pytest.fixture(scope="module")
def embedded():
    from glyph.data.sources import open_dataset

    return open_dataset("embedded")


@pytest.fixture(scope="module")
def pngs(embedded, tmp_path_factory):
    return reference.write_pngs(embedded, tmp_path_factory.mktemp("pngs"), chars=24)


def test_flop_counter_counts_forward_and_backward_analytically():
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    forward = 2 * 2 * 8 * 16 * 16 * 3 * 3 * 3  # 2 * N * Cout * H * W * Cin * k * k
    assert methods.count_flops(lambda: conv(x), 1)[0] == forward
    # Backward: the gradient of the input and of the weight, each as costly as the forward pass.
    assert methods.count_flops(lambda: conv(x).sum().backward(), 2)[0] == 3 * forward
    linear = torch.nn.Linear(64, 32)
    flops, returned = methods.count_flops(lambda: linear(torch.randn(5, 64)).shape, 1)
    assert flops == 2 * 5 * 64 * 32 and returned == [torch.Size([5, 32])]


class _Sleeper:
    """A fake step of known duration: glyph's (batch seconds, seconds, images) or the reference's images."""

    def __init__(self, seconds: float, glyph: bool, cycle: int = 1) -> None:
        self.seconds, self.glyph, self.cycle, self.calls = seconds, glyph, cycle, 0

    def step(self):
        import time

        self.calls += 1
        time.sleep(self.seconds)
        return (self.seconds / 4, self.seconds, 8) if self.glyph else 4


@pytest.mark.parametrize("budget, warm_only", [(0.5, False), (0.01, True)])
def test_compare_times_rounds_or_takes_the_warm_up_when_a_cycle_exceeds_the_budget(budget, warm_only):
    glyph, ref = _Sleeper(0.02, True, cycle=2), _Sleeper(0.04, False)
    r = methods.compare(glyph, ref, budget=budget, rounds=3)
    assert r["rounds"] == (0 if warm_only else 3)
    assert r["steps_per_round"] % 2 == 0  # whole cycles
    assert glyph.calls == 2 + r["rounds"] * r["steps_per_round"] == ref.calls
    # The rates follow the steps' durations (8 images per 0.02 s, 4 per 0.04 s), whichever steps were timed.
    assert r["glyph_img_per_s"] == pytest.approx(400, rel=0.3)
    assert r["reference_img_per_s"] == pytest.approx(100, rel=0.3)
    assert r["batch_share"] == pytest.approx(0.25, rel=0.3) and r["images_per_step"] == 8


def test_matmul_peak_is_a_rate():
    gflops = peak.matmul_gflops(torch.float32, 64, repeat=1)
    assert 0 < gflops < 1e6 and math.isfinite(gflops)


def test_target_reports_the_gap_only_when_missed():
    out: dict = {}
    methods.target(out, "speedup", 2.0, 1.8, higher=True)
    methods.target(out, "batch_percent", 7.5, 5.0, higher=False)
    assert out == {"speedup": 2.0, "speedup_target_met": True, "batch_percent": 7.5,
                   "batch_percent_target_met": False, "batch_percent_missed_by": 2.5}


def test_pngs_hold_the_dataset_glyphs(embedded, pngs):
    assert len(pngs.files) == 24 * len(pngs.writers) and pngs.template not in pngs.writers
    path = pngs.files[0]
    writer, char = embedded.classes["writer"].index(path.parent.name), embedded.classes["char"].index(path.stem)
    row = int(((embedded.labels["writer"] == writer) & (embedded.labels["char"] == char)).nonzero()[0])
    # On disk dark ink on white; decoded, 1 = ink like the dataset's 255.
    assert torch.allclose(reference.load_png(path), embedded.images[row].float() / 255, atol=1 / 255)


def test_progan_and_dsfgan_are_measured_where_the_docs_say():
    from glyph.plugins.dsfgan.method import DSFGAN
    from glyph.plugins.progan.method import ProGAN

    for case in ("progan", "progan-cpu"):
        m = ProGAN(methods.make_config(next(c for c in methods.CASES if c.name == case)))
        start, cycle = methods.measured_steps(m)
        assert m.phase(start)["resolution"] == 64 and m.phase(start)["alpha"] == 1.0
        assert cycle == m.config.r1_every and start % cycle == 0 and start < m.schedule.total
    m = DSFGAN()
    start, cycle = methods.measured_steps(m)
    assert m.phase(start)["stage"] == "gan" and m.phase(start)["k"] == m.config.ref_counts[0]
    assert cycle == len(m.config.ref_counts)


@pytest.mark.parametrize("case", methods.CASES, ids=lambda c: c.name)
def test_glyph_and_reference_steps_do_the_same_work(case, embedded, pngs):
    out = methods.measure(case, embedded, pngs, peak=1000.0, budget=0.1, rounds=1, overrides=_tiny(case.method))
    assert out["gflop_per_step"] > 0
    # The same networks and losses: a reference doing other work would not be a fair baseline.
    assert out["reference_gflop_per_step"] == pytest.approx(out["gflop_per_step"], rel=1e-6)
    assert out["glyph_img_per_s"] > 0 and out["reference_img_per_s"] > 0 and out["images_per_step"] > 0
    # Both rates carry three significant digits and the ratio two decimals: agreement to 3 % (or 0.01).
    assert out["speedup"] == pytest.approx(out["glyph_img_per_s"] / out["reference_img_per_s"], rel=0.03, abs=0.01)
    assert 0 <= out["batch_percent"] < 100
    assert ("peak_percent_target_met" in out) == case.peak_target
    for key in ("speedup", "batch_percent"):
        assert isinstance(out[f"{key}_target_met"], bool)
        assert (f"{key}_missed_by" in out) == (not out[f"{key}_target_met"])


def test_trainer_overhead_counts_the_methods_time_apart_from_the_loops(embedded, tmp_path):
    import time

    from glyph.config import apply_overrides
    from glyph.plugins.dcgan.method import DCGAN

    m = DCGAN(apply_overrides(DCGAN.Config(), {**_tiny("dcgan"), "steps": 4}, "tiny"))
    step = m.train_step

    def slow_step(*args, **kwargs):  # known work inside the method
        time.sleep(0.1)
        return step(*args, **kwargs)

    m.train_step = slow_step
    loop, inside = train_suite.loop_and_method_seconds(embedded, 4, tmp_path / "run", m)
    assert inside >= 4 * 0.1 and loop >= inside
    assert loop - inside < 0.1  # the sleeps are counted as the method's, not the loop's


@pytest.fixture(scope="module")
def tiny_ddpm():
    from glyph.config import apply_overrides
    from glyph.plugins.ddpm.method import DDPM

    torch.manual_seed(0)
    # The tiny network with the default T, so every benchmarked sampler (up to ancestral-1000) exists.
    m = DDPM(apply_overrides(DDPM.Config(), {**_tiny("ddpm"), "timesteps": 1000}, "tiny"))
    for net in m.build().values():
        net.eval()
    return m


def test_a_long_sampler_is_timed_over_its_first_steps(tiny_ddpm):
    net = tiny_ddpm.nets["unet"]
    calls = []
    net.register_forward_hook(lambda *_: calls.append(1))
    seconds, timed = sample.sampler_seconds(tiny_ddpm, "ancestral", 1000, 2, timed_steps=3)
    assert timed == 3 and len(calls) == 3 and seconds > 0
    assert tiny_ddpm.nets["unet"] is net  # the network is put back
    calls.clear()
    _, timed = sample.sampler_seconds(tiny_ddpm, "ddim", 5, 2)
    assert timed == 5 and len(calls) == 5


def test_ddpm_speeds_report_every_sampler(tiny_ddpm):
    out = sample.ddpm_speeds(tiny_ddpm, batch=2, full_up_to=10, timed=2)
    assert out["ddim10.timed_steps"] == 10 and out["ddim25.timed_steps"] == 2
    assert out["ancestral1000.timed_steps"] == 2 and out["ancestral1000.img_per_s"] > 0
    from glyph.device import bf16_is_fast

    if bf16_is_fast(torch.device("cpu")):
        assert out["ddim50_bf16.img_per_s"] > 0
    else:
        assert out["ddim50_bf16"].startswith("skipped")
    assert isinstance(out["ddim50_over_ancestral1000_target_met"], bool)


@pytest.mark.slow
def test_fgd_of_samplers_is_glyph_evals_fgd(tiny_ddpm, embedded, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the real set's statistics are cached on disk
    out = sample.fgd_of_samplers(tiny_ddpm, 8, embedded.subset(slice(0, 64)), batch=8)
    assert set(out) == {"fgd_ddim50", "fgd_ancestral1000"} and all(v >= 0 for v in out.values())


def test_dsfgan_speed_goes_through_run():
    from glyph.config import apply_overrides
    from glyph.plugins.dsfgan.method import DSFGAN

    torch.manual_seed(0)
    m = DSFGAN(apply_overrides(DSFGAN.Config(), _tiny("dsfgan"), "tiny"))
    for net in m.build().values():
        net.eval()
    out = sample.dsfgan_speed(m, "永和九年岁在癸丑暮春之初")
    assert out["dsfgan_characters"] == 12 and out["dsfgan_references"] == 4
    assert out["dsfgan_run_chars_per_s"] > 0 and out["dsfgan_generator_chars_per_s"] > 0


def test_table_keeps_a_missed_by_row_beside_its_value():
    from bench.__main__ import _merged_order

    groups = {"a": {"speedup": 2, "speedup_target_met": True, "gflop": 1},
              "b": {"speedup": 1, "speedup_target_met": False, "speedup_missed_by": 0.8, "gflop": 1}}
    assert _merged_order(groups) == ["speedup", "speedup_target_met", "speedup_missed_by", "gflop"]


@pytest.mark.slow
def test_gpu_check_dry_run_runs_every_section_on_the_cpu(tmp_path):
    """`python -m bench gpu --dry-run`: the GPU check's own code end to end at tiny presets (the numbers mean
    nothing on a CPU; that every section runs, and reports, does)."""
    import json
    import subprocess
    import sys

    from .conftest import REPO

    proc = subprocess.run([sys.executable, "-m", "bench", "gpu", "--dry-run", "--minutes", "30", "--out",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads((tmp_path / "gpu.json").read_text())["results"]
    errors = {k: v for k, v in results.items() if k.endswith((".error", ".skipped"))}
    assert not errors
    trainable = ("dcgan", "vae", "progan", "ddpm", "restorecae", "dsfgan")
    assert all(f"cli.{m}.resumed_to" in results and f"cli.{m}.run_shipped" in results for m in trainable)
    assert all(results[f"cli.{m}.resumed_to"] == 4 for m in trainable)  # 2 steps, resumed to 4
    assert "speed.dcgan.speedup" in results and "speed.dsfgan.speedup" in results
    assert all(f"large.{name}.best_peak_percent" in results for name, _, _ in gpu.LARGE)
    assert "10 tests collected" in results["tests.summary"]  # tests/test_cuda.py, marked cuda
    assert "gpu cli" in proc.stdout and "gpu large" in proc.stdout  # the tables


def test_gpu_check_without_a_gpu_says_how_to_dry_run():
    import subprocess
    import sys

    from .conftest import REPO

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    proc = subprocess.run([sys.executable, "-m", "bench", "gpu"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "no CUDA GPU" in proc.stderr and "--dry-run" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cpu_suite_measures_each_configuration_in_its_own_process():
    """bench cpu: one thread is one thread, the defaults take the usable CPUs, and a busy core is there while a
    shared case runs (the numbers themselves belong to docs/benchmarks.md)."""
    import os

    from glyph.threads import usable_cpus

    one = cpu.measure("one-thread", "write", "fp32", False, True)
    assert one["threads"] == 1 and one["chars_per_s"] > 0
    defaults = cpu.measure("defaults", "adapt", "fp32", False, True)
    assert defaults["threads"] == usable_cpus() and defaults["steps_done"] == 6 and defaults["s_per_step"] > 0
    if not hasattr(os, "sched_getaffinity"):
        return
    from pathlib import Path

    def busy() -> list[int]:
        found = []
        for p in Path("/proc").iterdir():
            try:
                if p.name.isdigit() and b"while True: pass" in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
        return found

    with cpu.busy_core(True):
        pids = busy()
        assert len(pids) == 1 and os.sched_getaffinity(pids[0]) == {min(os.sched_getaffinity(0))}
    assert not busy()


@pytest.mark.slow
def test_cpu_suite_quick_run_reports_every_case_and_target():
    out = cpu.run(quick=True)
    for precision in ("fp32",):
        for load in ("quiet", "shared"):
            for config in cpu.CONFIGS:
                assert f"{precision} {load} {config}.write_chars_per_s" in out
                assert f"{precision} {load} {config}.adapt_steps" in out
    assert "fp32_shared_write_defaults_over_one_thread_target_met" in out
    assert "fp32_adapt_steps_in_60s_quiet_target_met" in out


def test_proportions_groups_characters_by_layout_and_scores_each_with_its_flow():
    """bench.proportions: the cjk-decomp layouts, and a per-layout distance that is the glyphs' mean over groups
    (all flows equal: the shared distance)."""
    from bench import proportions
    from glyph.geometry import Geometry, _flow_cost

    table = proportions.layouts()
    assert (table["好"], table["花"], table["国"]) == ("left-right", "top-bottom", "other")
    g = torch.Generator().manual_seed(0)
    source, target = torch.rand(6, 1, 64, 64, generator=g), torch.rand(6, 1, 64, 64, generator=g)
    target = target / target.sum(dim=(1, 2, 3), keepdim=True)
    groups = ["left-right", "top-bottom", "left-right", "other", "top-bottom", "left-right"]
    flow = torch.full((2, 3, 3), 0.02)
    same = proportions._distance(source, target, Geometry.identity(6), dict.fromkeys(proportions.LAYOUTS, flow),
                                 groups)
    assert same == pytest.approx(float(_flow_cost(source, target, Geometry.identity(6), flow)), rel=1e-4)
    other = dict.fromkeys(proportions.LAYOUTS, flow) | {"other": torch.zeros(2, 3, 3)}
    assert proportions._distance(source, target, Geometry.identity(6), other, groups) != pytest.approx(same)
