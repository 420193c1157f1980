"""The training engine: run folders, exact resume after SIGKILL, atomic checkpoints, DDP, guards."""

from __future__ import annotations

import hashlib
import json
import signal

import pytest
import torch

from glyph import GlyphError
from glyph.checkpoint import RunDir, load_state, load_weights

from .conftest import REPO, make_plugin_dist, run_glyph

TOY = (REPO / "tests" / "toy_method.py").read_text()
COMMON = ["--data", "embedded", "--steps", "12", "--batch", "8", "--set", "train.deterministic=true",
          "--set", "train.log_every=1", "--set", "train.ckpt_every=4", "--set", "train.sample_every=6",
          "--precision", "fp32"]


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory):
    return make_plugin_dist(tmp_path_factory.mktemp("toy"), "glyph-toy", {"glyph_toy": TOY}, {"toy": "glyph_toy"})


def train(toy_site, out, *extra, **env):
    return run_glyph("train", "toygan", *COMMON, "--out", str(out), *extra, extra_path=[toy_site], **env)


def digest(run_dir) -> str:
    h = hashlib.sha256()
    for f in sorted((run_dir / "weights").iterdir()):
        h.update(f.name.encode())
        for k, v in sorted(load_weights(f).items()):
            h.update(k.encode())
            h.update(v.numpy().tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def reference(toy_site, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    r = train(toy_site, out)
    assert r.code == 0, r.err
    return out


def test_run_folder_describes_itself(reference, toy_site, tmp_path):
    cfg = json.loads((reference / "config.json").read_text())
    assert cfg["method"] == "toygan" and cfg["config"]["steps"] == 12 and cfg["train"]["deterministic"] is True
    assert cfg["data"]["source"] == "embedded" and len(cfg["data"]["fingerprint"]) == 24
    assert sorted(p.name for p in (reference / "weights").iterdir()) == ["D.safetensors", "G.ema.safetensors",
                                                                         "G.safetensors"]
    state = load_state(RunDir(reference).latest_checkpoint() / "trainer.pt")  # weights_only=True
    assert state["step"] == 12 and set(state["optimizers"]) == {"D", "G"}
    lines = [json.loads(x) for x in (reference / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, 13)) and "loss_d" in lines[0]
    assert sorted(p.name for p in (reference / "samples").iterdir()) == [
        "step-000006-ema.png", "step-000006.png", "step-000012-ema.png", "step-000012.png"]
    assert sorted(p.name for p in (reference / "checkpoints").iterdir()) == [
        "LATEST", "step-000004", "step-000008", "step-000012"]
    r = run_glyph("run", "toygan", "--weights", str(reference), "--out", str(tmp_path / "g.png"),
                  extra_path=[toy_site])
    assert r.code == 0, r.err
    assert (tmp_path / "g.png").is_file()


def test_resume_after_sigkill_is_bit_exact(reference, toy_site, tmp_path):
    out = tmp_path / "run"
    killed = train(toy_site, out, TOY_KILL_AT="7")
    assert killed.code == -signal.SIGKILL
    assert RunDir(out).latest_checkpoint().name == "step-000004"
    r = train(toy_site, out, "--resume")
    assert r.code == 1 and "keeps its config" in r.err  # options that would change the run are refused
    r = run_glyph("train", "toygan", "--out", str(out), "--resume", extra_path=[toy_site])
    assert r.code == 0, r.err
    assert digest(out) == digest(reference)


def test_kill_during_save_keeps_the_previous_checkpoint(reference, toy_site, tmp_path):
    out = tmp_path / "run"
    killed = train(toy_site, out, TOY_KILL_IN_SAVE="8")
    assert killed.code == -signal.SIGKILL
    latest = RunDir(out).latest_checkpoint()
    assert latest.name == "step-000004"
    load_state(latest / "trainer.pt")
    load_weights(latest / "weights" / "G.safetensors")
    r = run_glyph("train", "toygan", "--out", str(out), "--resume", extra_path=[toy_site])
    assert r.code == 0, r.err
    assert digest(out) == digest(reference)
    assert not list((out / "checkpoints").glob(".tmp-*"))


def test_ctrl_c_finishes_the_step_saves_and_says_how_to_resume(toy_site, tmp_path):
    out = tmp_path / "run"
    r = train(toy_site, out, TOY_INTERRUPT_AT="5")
    assert r.code == 130
    assert "--resume" in r.err and "Traceback" not in r.err
    assert RunDir(out).latest_checkpoint().name == "step-000005"


def test_nan_guard_stops_cleanly(toy_site, tmp_path):
    out = tmp_path / "run"
    r = train(toy_site, out, "--set", "nan_from=6", "--set", "train.nan_limit=3")
    assert r.code == 1 and "diverged" in r.err and "step-000004" in r.err
    assert RunDir(out).latest_checkpoint().name == "step-000004"
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["skipped"] == 2.0  # logged steps 7 and 8 were skipped; the third stopped the run


@pytest.mark.parametrize(("args", "needle"), [
    (["--set", "lrr=1"], "unknown config field 'lrr' (did you mean 'lr'?)"),
    (["--set", "train.log_evry=1"], "unknown config field 'log_evry' (did you mean 'log_every'?)"),
    (["--set", "steps=many"], "field 'steps': expected int, got 'many'"),
    (["--set", "justakey"], "expected key=value"),
    (["--preset", "huge"], "has no preset 'huge'"),
])
def test_config_errors_name_the_field(toy_site, tmp_path, args, needle):
    r = run_glyph("train", "toygan", "--data", "embedded", "--out", str(tmp_path / "r"), *args,
                  extra_path=[toy_site])
    assert r.code == 1 and needle in r.err, r.err
    assert not (tmp_path / "r").exists()


def test_config_file_layers_under_set(toy_site, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('lr = 0.001\nwidth = 4\n[train]\nlog_every = 2\nckpt_every = 2\nsample_every = 0\n')
    out = tmp_path / "r"
    r = run_glyph("train", "toygan", "--data", "embedded", "--preset", "tiny", "--config", str(f), "--set",
                  "width=6", "--out", str(out), extra_path=[toy_site])
    assert r.code == 0, r.err
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["config"]["lr"], cfg["config"]["width"], cfg["config"]["steps"]) == (0.001, 6, 4)
    assert cfg["train"]["log_every"] == 2


def test_existing_run_needs_resume_and_bad_run_folders_are_refused(reference, toy_site, tmp_path):
    r = run_glyph("train", "toygan", "--data", "embedded", "--out", str(reference), extra_path=[toy_site])
    assert r.code == 1 and "already holds a run" in r.err
    r = run_glyph("run", "filter", "-i", "x", "-o", "y", "--weights", str(reference))
    assert r.code == 2  # filter does not train: no --weights option
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"method": "dcgan"}))
    r = run_glyph("run", "toygan", "--weights", str(other), extra_path=[toy_site])
    assert r.code == 1 and "is a run of method 'dcgan'" in r.err
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(reference, broken)
    (broken / "weights" / "G.ema.safetensors").write_bytes(b"\x00" * 10)
    r = run_glyph("run", "toygan", "--weights", str(broken), extra_path=[toy_site])
    assert r.code == 1 and "corrupt" in r.err and "Traceback" not in r.err


def test_weights_of_another_config_are_refused(reference):
    from glyph.trainer import _checked

    from .toy_method import ToyConfig, ToyGAN

    nets = ToyGAN(ToyConfig(width=4)).build()
    with pytest.raises(GlyphError, match="trained with another config"):
        _checked(load_weights(reference / "weights" / "G.safetensors"), nets["G"], "G")


@pytest.mark.slow  # two processes, 25 s on a 2-core CPU: run by CI's slow stage
def test_two_process_gloo_training_keeps_ranks_identical(toy_site, tmp_path):
    out = tmp_path / "ddp"
    r = run_glyph("train", "toygan", "--data", "embedded", "--steps", "6", "--batch", "4", "--nproc", "2",
                  "--precision", "fp32", "--set", "train.sample_every=0", "--set", "train.ckpt_every=3",
                  "--out", str(out), extra_path=[toy_site], TOY_DUMP_RANKS="1")
    assert r.code == 0, r.err
    hashes = [(out / f"rank-{i}.sha").read_text() for i in (0, 1)]
    assert hashes[0] == hashes[1]
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    r = run_glyph("train", "toygan", "--out", str(out), "--resume", "--steps", "8", "--nproc", "2",
                  extra_path=[toy_site], TOY_DUMP_RANKS="1")
    assert r.code == 0, r.err
    assert (out / "rank-0.sha").read_text() == (out / "rank-1.sha").read_text()
    assert RunDir(out).latest_checkpoint().name == "step-000008"


def test_ema_warmup_and_average():
    from glyph.ema import EMA

    net = torch.nn.Linear(2, 2)
    ema = EMA(net, decay=0.9)
    assert torch.equal(ema.module.weight, net.weight)  # starts as a copy
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    with torch.no_grad():
        net.weight.add_(1.0)
    before = ema.module.weight.clone()
    ema.update(net)
    assert torch.allclose(ema.module.weight, before + 0.9 * 1.0)


def test_tensorboard_plugin_logs_scalars(reference):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(reference / "tensorboard"))
    acc.Reload()
    assert "loss_d" in acc.Tags()["scalars"] and len(acc.Scalars("loss_d")) == 12
    assert "samples" in acc.Tags()["images"]


def test_minutes_budget_stops_after_a_whole_step_saves_and_resumes_exactly(reference, toy_site, tmp_path):
    out = tmp_path / "run"
    r = train(toy_site, out, "--minutes", "0.000001")
    assert r.code == 0, r.err
    assert "budget after step 1 of 12" in r.err and f"--out {out} --resume" in r.err
    assert RunDir(out).latest_checkpoint().name == "step-000001"
    r = run_glyph("train", "toygan", "--out", str(out), "--resume", extra_path=[toy_site])
    assert r.code == 0, r.err
    assert digest(out) == digest(reference)  # as if it had never stopped
    from glyph.data.sources import open_dataset
    from glyph.trainer import Trainer

    with pytest.raises(GlyphError, match="--minutes must be a positive number"):
        Trainer(None, open_dataset("embedded"), tmp_path / "other", minutes=0)


def test_export_splits_large_parts_into_shards_that_load_the_same(reference, toy_site, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    for out, extra in ((whole, []), (split, ["--max-file-mb", "0.003"])):
        r = run_glyph("export", str(reference), "--out", str(out), *extra, extra_path=[toy_site])
        assert r.code == 0, r.err
    shards = sorted((split / "weights").glob("G.ema-*"))
    assert len(shards) >= 2 and shards[0].name == f"G.ema-00001-of-{len(shards):05d}.safetensors"
    assert all(p.stat().st_size <= 3_000 or len(load_weights(p)) == 1 for p in shards)  # whole tensors only
    joined, one = load_weights(split / "weights" / "G.ema.safetensors"), load_weights(whole / "weights" /
                                                                                      "G.ema.safetensors")
    assert joined.keys() == one.keys() and all(torch.equal(joined[k], one[k]) for k in one)
    r = run_glyph("run", "toygan", "--weights", str(split), "--out", str(tmp_path / "g.png"), extra_path=[toy_site])
    assert r.code == 0, r.err  # the sharded folder loads like any run folder
    shards[1].unlink()
    with pytest.raises(GlyphError, match=f"shards.*{shards[1].name}"):
        load_weights(split / "weights" / "G.ema.safetensors")
