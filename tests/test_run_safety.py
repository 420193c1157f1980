"""Run folders under stress (issue 2.4): one trainer per folder, SIGTERM saves like Ctrl-C, a second signal
waits for the save, resumed metrics hold each step once, and damaged run folders are one line, not a traceback.

The trainings use the toy GAN of ``test_train.py`` plus a small plugin of test controls (below); the damaged
folder cases run the CLI in this process, since they fail before any training.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glyph import GlyphError
from glyph.checkpoint import LOCK, RunDir, load_state

from .conftest import BIN, glyph_env, make_plugin_dist, run_glyph
from .test_train import TOY, digest

# Test controls, active only when a test sets these environment variables.
SIGNALS = '''
import os
import signal
import time
from pathlib import Path

import glyph


@glyph.hookimpl
def glyph_train_step(run, step, metrics):
    if os.environ.get("TOY_TERM_AT") == str(step):
        os.kill(os.getpid(), signal.SIGTERM)
    if os.environ.get("TOY_PAUSE_AT") == str(step):  # wait (at most a minute) until the test deletes the flag
        flag = Path(os.environ["TOY_PAUSE_FLAG"])
        flag.write_text("paused")
        deadline = time.monotonic() + 60
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


if os.environ.get("TOY_SIGNAL_IN_SAVE"):  # a second signal in the middle of writing that step's checkpoint
    import glyph.checkpoint as _ckpt

    _save_state = _ckpt.save_state

    def _signalled_save(path, state):
        if state["step"] == int(os.environ["TOY_SIGNAL_IN_SAVE"]):
            time.sleep(1.2)  # past the second in which a repeated signal counts as the first one again
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        _save_state(path, state)

    _ckpt.save_state = _signalled_save
'''

ARGS = ["--data", "embedded", "--steps", "8", "--batch", "8", "--set", "train.deterministic=true",
        "--set", "train.log_every=1", "--set", "train.ckpt_every=4", "--set", "train.sample_every=0",
        "--precision", "fp32"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return make_plugin_dist(tmp_path_factory.mktemp("toysig"), "glyph-toy", {"glyph_toy": TOY,
                            "glyph_toy_signals": SIGNALS}, {"toy": "glyph_toy", "toysig": "glyph_toy_signals"})


def train(site, out, *extra, **env):
    return run_glyph("train", "toygan", *ARGS, "--out", str(out), *extra, extra_path=[site], **env)


def resume(site, out):
    return run_glyph("train", "toygan", "--out", str(out), "--resume", extra_path=[site])


def metrics(out) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(err: str, *needles: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def reference(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    r = train(site, out)
    assert r.code == 0, r.err
    return out


# 1. One trainer per run folder, and SIGTERM ------------------------------------------------------------------

@pytest.mark.slow  # 18-25 s on a 2-core CPU: run by CI's slow stage
def test_second_trainer_is_refused_and_sigterm_saves_and_resumes_exactly(site, reference, tmp_path):
    out, flag = tmp_path / "run", tmp_path / "paused"
    first = subprocess.Popen([str(BIN / "glyph"), "train", "toygan", *ARGS, "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=glyph_env([site], TOY_PAUSE_AT="3", TOY_PAUSE_FLAG=str(flag)))
    try:
        deadline = time.monotonic() + 120
        while not flag.exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1]
            time.sleep(0.05)
        before = snapshot(out)
        assert LOCK in before and json.loads(before[LOCK])["pid"] == first.pid
        for second in (train(site, out), resume(site, out)):  # a new run into it, and a resume of it
            assert second.code == 1
            one_line(second.err, f"pid {first.pid}", "another process")
        assert snapshot(out) == before  # the refused trainers wrote nothing
        first.send_signal(signal.SIGTERM)  # as `docker stop` and SLURM do
        flag.unlink()
        _, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM at step 3" in err and f"--out {out} --resume" in err and "Traceback" not in err
    assert RunDir(out).latest_checkpoint().name == "step-000003"
    assert not (out / LOCK).exists()
    r = resume(site, out)
    assert r.code == 0, r.err
    assert digest(out) == digest(reference)
    assert [m["step"] for m in metrics(out)] == list(range(1, 9))


def test_a_second_signal_during_the_save_waits_for_it(site, reference, tmp_path):
    out = tmp_path / "run"
    r = train(site, out, TOY_TERM_AT="5", TOY_SIGNAL_IN_SAVE="5")
    assert r.code == 128 + signal.SIGTERM, r.err
    assert "stopped by SIGTERM at step 5" in r.err and "Traceback" not in r.err
    latest = RunDir(out).latest_checkpoint()
    assert latest.name == "step-000005" and load_state(latest / "trainer.pt")["step"] == 5
    assert not list((out / "checkpoints").glob(".tmp-*"))
    r = resume(site, out)
    assert r.code == 0, r.err
    assert digest(out) == digest(reference)


def test_resumed_metrics_hold_each_step_once_and_a_stale_lock_is_taken_over(site, reference, tmp_path):
    out = tmp_path / "run"
    killed = train(site, out, TOY_KILL_AT="7")  # steps 5 to 7 are logged, the checkpoint is step 4
    assert killed.code == -signal.SIGKILL
    assert [m["step"] for m in metrics(out)] == list(range(1, 8))
    assert json.loads((out / LOCK).read_text())["pid"] > 0  # the killed trainer's lock stays behind
    r = resume(site, out)
    assert r.code == 0, r.err
    assert "took over the lock of pid" in r.err and "no longer running" in r.err
    assert not (out / LOCK).exists()
    got, want = metrics(out), metrics(reference)
    assert [m["step"] for m in got] == list(range(1, 9))
    assert [(m["loss_d"], m["loss_g"]) for m in got] == [(m["loss_d"], m["loss_g"]) for m in want]


def test_the_lock_itself(tmp_path):
    """Held: refused with the holder's pid (also by the trainer itself); released on errors; stale: taken over."""
    from glyph.data.sources import open_dataset
    from glyph.trainer import TrainConfig, Trainer

    from .toy_method import ToyConfig, ToyGAN

    run = RunDir(tmp_path / "run")
    with run.lock():
        with pytest.raises(GlyphError, match=f"pid {os.getpid()}"):
            run.check_unlocked()
        trainer = Trainer(ToyGAN(ToyConfig(steps=1, batch=4)), open_dataset("embedded"), run.path,
                          TrainConfig(precision="fp32"), quiet=True)
        with pytest.raises(GlyphError, match=f"being trained by another process \\(pid {os.getpid()}\\)"):
            trainer.fit()
        assert [p.name for p in run.path.iterdir()] == [LOCK]
    assert not (run.path / LOCK).exists()
    with pytest.raises(RuntimeError), run.lock():
        raise RuntimeError("boom")
    assert not (run.path / LOCK).exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run.path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    run.check_unlocked()  # a lock nobody holds does not stop anyone
    notes: list[str] = []
    with run.lock(notes.append):
        assert json.loads((run.path / LOCK).read_text())["pid"] == os.getpid()
    assert len(notes) == 1 and f"pid {dead.pid}" in notes[0]
    assert not (run.path / LOCK).exists()


# 2. Damaged run folders and config files: one line, exit 1 ---------------------------------------------------

def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """``glyph ARGS`` in this process -> (exit code, stderr)."""
    from glyph.cli import console
    from glyph.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(console, "STATE", console.State())
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    return int(exit_.value.code or 0), capsys.readouterr().err


GOOD_DATA = {"source": "embedded", "fingerprint": "x"}
DAMAGED = {
    "list": (b"[1, 2]", "holds a list"),
    "null": (b"null", "holds null"),
    "not json": (b"{", "not valid JSON"),
    "binary": (b"\xff\xfe\x00\x01 not text", "not UTF-8"),
    "no method": (json.dumps({"config": {}}).encode(), "field 'method' (a method name) is missing"),
    "string config": (json.dumps({"method": "dcgan", "config": "big"}).encode(),
                      "field 'config' must be a table (JSON object)"),
    "list train": (json.dumps({"method": "dcgan", "config": {}, "train": [1], "data": GOOD_DATA}).encode(),
                   "field 'train' must be a table"),
    "number source": (json.dumps({"method": "dcgan", "config": {}, "train": {}, "data": {"source": 3}}).encode(),
                      "field 'data.source' must be a string"),
}
COMMANDS = {
    "run": ["run", "dcgan", "--weights", "{run}"],
    "resume": ["train", "dcgan", "--out", "{run}", "--resume"],
    "eval": ["eval", "--real", "embedded", "--fake", "run:{run}", "--n", "4"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", DAMAGED)
def test_a_damaged_config_json_is_one_line(monkeypatch, capsys, tmp_path, case, command):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    content, needle = DAMAGED[case]
    (run / "config.json").write_bytes(content)
    before = snapshot(tmp_path)
    code, err = run_cli(monkeypatch, capsys, *(a.replace("{run}", str(run)) for a in COMMANDS[command]))
    assert code == 1, err
    one_line(err, f"{run / 'config.json'}", needle)
    assert snapshot(tmp_path) == before


def test_resume_needs_the_run_fields(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "dcgan", "config": {}, "train": {}}))
    code, err = run_cli(monkeypatch, capsys, "train", "dcgan", "--out", str(run), "--resume")
    one_line(err, "field 'data' (a table describing the training data) is missing")
    assert code == 1


@pytest.mark.parametrize("pointer", [b"\x00\xff\x13binary", b"../../etc", b""])
def test_a_damaged_best_pointer_is_one_line(monkeypatch, capsys, tmp_path, pointer):
    run = tmp_path / "run"
    (run / "checkpoints" / "step-000004").mkdir(parents=True)
    (run / "checkpoints" / "step-000004" / "trainer.pt").write_bytes(b"")
    (run / "config.json").write_text(json.dumps({"method": "dcgan", "config": {}}))
    (run / "checkpoints" / "BEST").write_bytes(pointer)
    code, err = run_cli(monkeypatch, capsys, "export", str(run), "--out", str(tmp_path / "slim"), "--checkpoint",
                        "best")
    assert code == 1
    one_line(err, str(run / "checkpoints" / "BEST"), "step-NNNNNN", "delete it", "step-000004")
    assert not (tmp_path / "slim").exists()


def test_a_binary_latest_pointer_stops_resume_with_one_line(site, reference, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference, out)
    (out / "checkpoints" / "LATEST").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    r = run_glyph("train", "toygan", "--out", str(out), "--resume", "--steps", "9", extra_path=[site])
    assert r.code == 1
    one_line(r.err, str(out / "checkpoints" / "LATEST"), "delete it", "step-000008")
    assert not (out / LOCK).exists()


@pytest.mark.parametrize(("content", "needle"), [
    (b"lr = 0.1\n\xff\xfe\x00", "is not UTF-8 text (byte 0xff at offset 9)"),
    (b"\x89PNG\r\n\x1a\n", "is not UTF-8 text"),
    (b"lr = = 2", "not valid TOML"),
    (None, "is a folder"),
])
def test_a_bad_config_file_is_one_line(monkeypatch, capsys, tmp_path, content, needle):
    f = tmp_path / "c.toml"
    if content is None:
        f.mkdir()
    else:
        f.write_bytes(content)
    code, err = run_cli(monkeypatch, capsys, "train", "dcgan", "--data", "embedded", "--config", str(f), "--out",
                        str(tmp_path / "o"))
    assert code == 1
    one_line(err, f"--config {f}", needle)
    assert not (tmp_path / "o").exists()
