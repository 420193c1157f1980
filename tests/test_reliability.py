"""Bad inputs from issue #23: every one gives one clear line, and nothing is written outside --out.

The commands run in this process (``glyph.cli.main.main``) so the whole file takes seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from glyph.dataset import GlyphData
from glyph.errors import GlyphError
from glyph.imageio import list_images, read_image, write_image
from glyph.paths import char_file_name, check_output_dir, check_output_file, inside, safe_name


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """``glyph ARGS`` in this process -> (exit code, stderr)."""
    from glyph.cli import console
    from glyph.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(console, "STATE", console.State())
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    err = capsys.readouterr().err
    return int(exit_.value.code or 0), err


def one_line_error(code: int, err: str, *needles: str) -> None:
    """The command failed with exit 1 and one error line holding every needle, no traceback."""
    assert code == 1, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# 1. Containment -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["/", ".", "..", "../..", "/etc/x", "a/b", "\\", "", " ", "\x00", "x" * 400])
def test_safe_name_is_one_visible_component(name):
    safe = safe_name(name)
    assert safe and "/" not in safe and "\\" not in safe and not safe.startswith((".", " "))
    assert len(safe.encode()) <= 255 and safe not in (".", "..") and safe.isprintable()


def test_safe_name_keeps_characters_and_reads_back():
    from glyph.data.charsets import parse_char_name

    assert safe_name("永") == "永" and char_file_name("永") == "永.png" and safe_name("Noto Sans") == "Noto Sans"
    assert char_file_name("/") == "U+002F.png" and parse_char_name("U+002F") == "/"
    assert safe_name("x" * 400) != safe_name("x" * 401)  # shortened names stay distinct


def test_inside_refuses_to_leave_the_folder(tmp_path):
    assert inside(tmp_path, "..", "a.png") == tmp_path / "U+002EU+002E" / "a.png"
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(GlyphError, match="outside the output folder"):
        inside(tmp_path, "link", "x.png")


def _crafted(path: Path) -> Path:
    """A packed dataset whose class names try to escape the output folder."""
    from glyph.data.packed import save_packed

    data = GlyphData(torch.zeros(3, 1, 8, 8, dtype=torch.uint8),
                     {"char": torch.tensor([0, 1, 2]), "writer": torch.tensor([0, 1, 2])},
                     {"char": ["../../../escaped", "/tmp/abs", "."], "writer": ["../..", "/", ".."]},
                     {"ink": "glyph"})
    return save_packed(data, path)


def test_damage_keeps_crafted_class_names_inside_out(monkeypatch, capsys, tmp_path):
    pack = _crafted(tmp_path / "in" / "pack.safetensors")
    before = files_under(tmp_path)
    code, err = run_cli(monkeypatch, capsys, "data", "damage", str(pack), "--out", str(tmp_path / "w" / "p"),
                        "--template-font", "none")
    assert code == 0, err
    written = files_under(tmp_path) - before
    assert len(written) == 6 and all(p.is_relative_to(tmp_path / "w" / "p") for p in written)
    assert not any(p.name.startswith(".") for p in written)


@pytest.mark.parametrize("layout", ["writers", "styles", "classes"])
def test_folder_layouts_keep_crafted_class_names_inside_out(tmp_path, layout):
    from glyph.data.packed import load_packed
    from glyph.data.sources import save_dataset

    data = load_packed(_crafted(tmp_path / "pack.safetensors"))
    out = tmp_path / "a" / "b" / "out"
    save_dataset(data, out, layout)
    written = files_under(tmp_path) - {tmp_path / "pack.safetensors"}
    assert len(written) == 3 and all(p.is_relative_to(out) for p in written)


def test_refset_names_from_text_stay_inside_out(tmp_path):
    from glyph.data.refs import RefSet, write_refset

    refs = RefSet(images=np.zeros((4, 8, 8), np.uint8), chars=["/", ".", "永", "永"], files=["s"] * 4)
    assert write_refset(refs, tmp_path / "s") == 4
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["U+002E.png", "U+002F.png", "永.png", "永_2.png"]
    assert files_under(tmp_path) == {p for p in (tmp_path / "s").iterdir()}


# 2. Image listings skip what cannot be read --------------------------------------------------------------

def test_list_images_skips_loops_broken_links_and_fifos(tmp_path):
    write_image(tmp_path / "ok.png", np.zeros((2, 2)))
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "broken.png").symlink_to(tmp_path / "gone.png")
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "dir.png").mkdir()
    for recursive in (True, False):
        files, skipped = list_images(tmp_path, recursive=recursive)
        assert files == [tmp_path / "ok.png"]
        reasons = dict(skipped)
        assert "symlink loop" in reasons[str(tmp_path / "loop.png")]
        assert "broken symlink" in reasons[str(tmp_path / "broken.png")]
        assert "FIFO" in reasons[str(tmp_path / "fifo.png")]
    with pytest.raises(GlyphError, match="symlink loop"):
        read_image(tmp_path / "loop.png")
    with pytest.raises(GlyphError, match="not a regular file"):
        read_image(tmp_path / "fifo.png")


def test_a_symlink_loop_in_refs_is_skipped_not_a_crash(monkeypatch, capsys, tmp_path):
    src = tmp_path / "refs"
    src.mkdir()
    (src / "永.png").symlink_to(src / "永.png")
    code, err = run_cli(monkeypatch, capsys, "data", "refs", str(src), "--out", str(tmp_path / "o"))
    one_line_error(code, err)
    assert "symlink loop" in err


# 5. Outputs checked before work starts -------------------------------------------------------------------

def test_output_checks(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(GlyphError, match="is a file"):
        check_output_dir(tmp_path / "file")
    with pytest.raises(GlyphError, match="is a file"):
        check_output_dir(tmp_path / "file" / "sub")
    with pytest.raises(GlyphError, match="not an empty folder"):
        check_output_dir(tmp_path / "full")
    with pytest.raises(GlyphError, match="is a folder"):
        check_output_file(tmp_path / "full")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_file(tmp_path / "new" / "f.png") == tmp_path / "new" / "f.png"


# 3. No model downloads from a config ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hf-hub:timm/resnet10t.a1_in1k", "hf_hub:x/y", "https://example.com/m.pth",
                                  "timm/resnet10t", "resnet10", ""])
def test_timm_names_that_would_download_or_not_build_are_refused(name):
    from glyph import get_method
    from glyph.config import apply_overrides

    for method, key in (("dsfgan", "backbone"), ("restorecae", "encoder")):
        with pytest.raises(GlyphError, match=f"field '{key}'"):
            apply_overrides(get_method(method).Config(), {key: name}, "--set")


def test_a_run_folder_naming_a_hub_model_is_refused_before_building(tmp_path):
    import json

    from glyph.trainer import load_run

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(
        {"method": "restorecae", "config": {"encoder": "hf-hub:timm/convnext_atto.d2_in1k"}}))
    with pytest.raises(GlyphError, match="would download a model"):
        load_run(tmp_path / "run", "restorecae")


def test_an_offline_timm_name_passes():
    from glyph import get_method
    from glyph.config import apply_overrides, check_timm_model

    assert check_timm_model("resnet10t", "x") == "resnet10t"
    assert apply_overrides(get_method("dsfgan").Config(), {"backbone": "resnet18"}, "--set").backbone == "resnet18"


# 4. Numbers are validated ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "key", "value", "message"), [
    ("dcgan", "lr", "nan", "finite"), ("dcgan", "lr", "inf", "finite"), ("dcgan", "lr", "-1", "above 0"),
    ("dcgan", "lr", "0", "above 0"), ("dcgan", "steps", "-5", "at least 0"), ("dcgan", "batch", "0", "above 0"),
    ("dsfgan", "lr_g", "-1e-4", "above 0"), ("progan", "betas", "0,nan", "finite"), ("ddpm", "eta", "nan", "finite"),
])
def test_config_numbers_are_finite_and_in_range(method, key, value, message):
    from glyph import get_method
    from glyph.config import apply_overrides

    with pytest.raises(GlyphError, match=message):
        apply_overrides(get_method(method).Config(), {key: value}, "--set")


def test_train_loop_numbers_are_checked():
    from glyph.trainer import train_config_from

    with pytest.raises(GlyphError, match=r"sample_every.*at least 0"):
        train_config_from({"sample_every": "-1"})


@pytest.mark.parametrize(("args", "needle"), [
    (["data", "show", "embedded", "--out", "{o}.png", "--n", "0"], "--n"),
    (["data", "show", "embedded", "--out", "{o}.png", "--n", "-5"], "--n"),
    (["data", "show", "embedded", "--out", "{o}.png", "--cols", "-2"], "--cols"),
    (["data", "damage", "embedded", "--out", "{o}", "--n", "-1"], "--n"),
    (["data", "damage", "embedded", "--out", "{o}", "--strength", "1e9"], "strength"),
    (["data", "damage", "embedded", "--out", "{o}", "--strength", "nan"], "strength"),
    (["data", "render", "--out", "{o}", "--size", "-1"], "--size"),
    (["data", "render", "--out", "{o}", "--size", "100000"], "--size"),
    (["data", "render", "--out", "{o}", "--unseen-chars", "2"], "--unseen-chars"),
    (["data", "render", "--out", "{o}", "--unseen-writers", "-1"], "--unseen-writers"),
    (["data", "synth", "--out", "{o}", "--writers", "0"], "--writers"),
    (["font", "show", "{o}.otf", "--text", "永", "--out", "{o}.png", "--columns", "0"], "--columns"),
    (["train", "dcgan", "--data", "embedded", "--out", "{o}", "--steps", "-1"], "--steps"),
    (["train", "dcgan", "--data", "embedded", "--out", "{o}", "--nproc", "-2"], "--nproc"),
    (["train", "dcgan", "--data", "embedded", "--out", "{o}", "--minutes", "nan"], "--minutes"),
    (["train", "dcgan", "--data", "embedded", "--out", "{o}", "--set", "lr=nan"], "lr"),
    (["train", "dcgan", "--data", "embedded", "--out", "{o}", "--set", "train.sample_every=-1"], "sample_every"),
])
def test_bad_numbers_on_the_command_line_are_one_line(monkeypatch, capsys, tmp_path, args, needle):
    code, err = run_cli(monkeypatch, capsys, *(a.replace("{o}", str(tmp_path / "o")) for a in args))
    one_line_error(code, err, needle)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.png").exists()


def test_sampling_counts_are_bounded():
    from glyph.generate import walk
    from glyph.method import RunContext
    from glyph.plugins.ddpm.method import DDPM, Config

    with pytest.raises(GlyphError, match="--frames"):
        walk(4, 2_000_000_000, 8)
    m = DDPM(Config())
    for kwargs, message in (({"eta": float("nan")}, "--eta"), ({"n": 0}, "--n"), ({"n": -5}, "--n")):
        with pytest.raises(GlyphError, match=message):
            m.run(RunContext(device="cpu"), out=Path("unused.png"), **kwargs)


# 5. Outputs that cannot be written are refused first ----------------------------------------------------

@pytest.mark.parametrize(("args", "needle"), [
    (["data", "render", "--out", "{file}", "--charset", "永"], "is a file"),
    (["data", "refs", "{dir}", "--out", "{file}"], "is a file"),
    (["data", "sheet", "{file}", "--text", "永", "--out", "{file}"], "is a file"),
    (["data", "show", "embedded", "--out", "{dir}"], "is a folder"),
    (["data", "pack", "embedded", "{file}/x.safetensors"], "is a file, not a folder"),
    (["train", "dcgan", "--data", "embedded", "--out", "{file}"], "is a file"),
    (["font", "build", "{dir}", "--name", "x", "--out", "{dir}/sub.otf/"], "is a folder"),
])
def test_unwritable_outputs_are_one_line(monkeypatch, capsys, tmp_path, args, needle):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "sub.otf").mkdir()
    subs = {"{file}": str(tmp_path / "file"), "{dir}": str(tmp_path / "dir")}
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    code, err = run_cli(monkeypatch, capsys, *argv)
    one_line_error(code, err, needle)


# 6. restorecae never overwrites its inputs ---------------------------------------------------------------

@pytest.mark.parametrize("where", ["same", "inside"])
def test_restore_refuses_out_at_or_inside_input(tmp_path, where):
    from glyph.method import RunContext
    from glyph.plugins.restorecae.method import Config, RestoreCAE

    src = tmp_path / "in"
    write_image(src / "永.png", np.ones((8, 8)))
    out = src if where == "same" else src / "restored"
    before = (src / "永.png").read_bytes()
    with pytest.raises(GlyphError, match="inputs are not overwritten"):
        RestoreCAE(Config()).run(RunContext(device="cpu"), input=src, out=out)
    assert (src / "永.png").read_bytes() == before and not (src / "restored").exists()


def test_restore_gives_two_inputs_of_one_name_two_outputs(tmp_path):
    from glyph.method import RunContext
    from glyph.plugins.restorecae.method import _targets

    ctx = RunContext()
    src = tmp_path / "in"
    src.mkdir()
    paths = [src / "永.jpg", src / "永.png", src / "a" / "b.png"]
    assert _targets(ctx, paths, src, tmp_path / "o") == [tmp_path / "o" / "永.png", tmp_path / "o" / "永_2.png",
                                                         tmp_path / "o" / "a" / "b.png"]
    assert "永_2.png" in ctx.report.notes[0]


# 7. font install takes fonts only --------------------------------------------------------------------------

def test_font_install_refuses_what_is_not_a_font(monkeypatch, tmp_path):
    from glyph.font import check_font_file, install_font

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "passwd.ttf").write_text("root:x:0:0:root:/root:/bin/bash\n")
    for bad, message in ((Path("/etc/passwd"), "not a font file"), (tmp_path / "passwd.ttf", "not a font"),
                         (tmp_path, "not a file")):
        with pytest.raises(GlyphError, match=message):
            install_font(bad)
    assert not (tmp_path / "home").exists()
    with pytest.raises(GlyphError, match="not a file"):
        check_font_file(tmp_path / "missing.otf")


def test_font_install_replaces_a_symlink_instead_of_writing_through_it(monkeypatch, tmp_path):
    from fontTools.fontBuilder import FontBuilder

    from glyph.font import install_font

    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", "A"])
    fb.setupCharacterMap({65: "A"})
    fb.setupGlyf({n: _empty_glyph() for n in (".notdef", "A")})
    fb.setupHorizontalMetrics({".notdef": (500, 0), "A": (500, 0)})
    fb.setupHorizontalHeader()
    fb.setupNameTable({"familyName": "T", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    fb.save(str(tmp_path / "t.ttf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("shutil.which", lambda _: None)  # no fc-cache run in a test
    fonts = tmp_path / "home" / ".local" / "share" / "fonts"
    fonts.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (fonts / "t.ttf").symlink_to(victim)
    dest = install_font(tmp_path / "t.ttf")
    assert victim.read_text() == "keep me" and not dest.is_symlink()
    assert dest.read_bytes() == (tmp_path / "t.ttf").read_bytes()


def _empty_glyph():
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    return TTGlyphPen(None).glyph()


def test_a_start_that_fails_leaves_no_run_folder_behind_and_a_stale_one_starts_over(tmp_path, monkeypatch):
    """A run whose first step fails (or that never reached its first checkpoint) is no dead end: a plain restart
    proceeds (with a note) and --resume says there is nothing to continue, never 'add --resume'."""
    import shutil

    import glyph
    from glyph.plugins.dcgan.method import DCGAN

    run = tmp_path / "run"

    def broken(self, batch, step, trainer):
        raise RuntimeError("the first step fails")

    with monkeypatch.context() as m:
        m.setattr(DCGAN, "train_step", broken)
        with pytest.raises(RuntimeError, match="first step fails"):
            glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=2)
    assert not run.exists()  # made for this run, removed with what it held
    # A run killed (SIGKILL, power cut) before its first checkpoint: its config and logs, no checkpoint, no weights.
    glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=1, train_overrides={"sample_every": 0})
    shutil.rmtree(run / "checkpoints")
    shutil.rmtree(run / "weights")
    (run / "keep.txt").write_text("mine")
    with pytest.raises(glyph.GlyphError, match=r"never reached its first checkpoint.*without --resume"):
        glyph.train("dcgan", out=run, resume=True)
    notes: list[str] = []
    done = glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=2, train_overrides={"sample_every": 0},
                       on_note=notes.append)
    assert done.reason == "finished" and any("starting it over" in n for n in notes)
    assert (run / "keep.txt").read_text() == "mine"
    with pytest.raises(glyph.GlyphError, match="already holds a run"):  # a run that saved: never overwritten
        glyph.train("dcgan", "embedded", out=run, preset="tiny")


def _trainable() -> list[str]:
    from glyph.loader import get_registry
    from glyph.registry import method_rows

    return sorted(row["name"] for row in method_rows(get_registry()) if row["trainable"] and row["builtin"])


@pytest.mark.parametrize("method", _trainable())
def test_every_trainable_methods_failed_first_step_leaves_nothing_behind(tmp_path, monkeypatch, method):
    """Whatever a method builds before its first step (networks, optimisers, data, samples), a first step that
    fails leaves no run folder (the next start is a plain one) and no plugin holding files in it: they hear
    glyph_train_end with reason 'failed'."""
    import glyph
    from glyph.loader import get_registry

    def broken(self, batch, step, trainer):
        raise RuntimeError("the first step fails")

    monkeypatch.setattr(get_registry().method(method).obj, "train_step", broken)
    run = tmp_path / "runs" / method
    with pytest.raises(RuntimeError, match="first step fails"):
        glyph.train(method, "embedded", out=run, preset="tiny", steps=2)
    assert not run.exists() and (tmp_path / "runs").exists()  # only what this run made is removed
    from glyph import tensorboard

    assert not tensorboard._writers  # told the run failed, the TensorBoard writer closed before its folder went


@pytest.mark.parametrize(("method", "setting", "message"), [
    ("dcgan", "diffaugment=sparkle", "unknown part 'sparkle'"),
    ("dcgan", "z_dim=0", "must be positive"),
    ("dcgan", "g_widths=0,0", "must be positive"),
    ("progan", "diffaugment=color,glitter", "unknown part 'glitter'"),
])
def test_bad_settings_are_refused_before_a_run_folder_is_made(tmp_path, method, setting, message):
    import glyph

    with pytest.raises(glyph.GlyphError, match=message):
        glyph.train(method, "embedded", out=tmp_path / "run", preset="tiny", overrides=dict([setting.split("=")]))
    assert not (tmp_path / "run").exists()


def test_weights_holding_nan_are_refused_at_load_with_the_tensor_named(tmp_path):
    import shutil

    import torch

    import glyph
    from glyph.checkpoint import load_weights, save_weights
    from glyph.plugins.dcgan.method import DCGAN

    shipped = DCGAN.shipped_weights()
    run = tmp_path / "run"
    shutil.copytree(shipped, run)
    file = next((run / "weights").glob("*.safetensors"))
    state = load_weights(file)
    name = sorted(state)[3]
    state[name] = state[name].clone()
    state[name].view(-1)[0] = float("nan")
    save_weights(file, state, {})
    with pytest.raises(glyph.GlyphError, match=f"tensor {name} holds NaN"):
        glyph.load("dcgan", weights=run)
    assert torch.isfinite(load_weights(next((shipped / "weights").glob("*.safetensors")))[name]).all()


def test_counts_that_would_do_nothing_and_metrics_that_measure_nothing_exit_non_zero():
    from .conftest import run_glyph

    r = run_glyph("eval", "fit-judge", "--steps", "-1", "--out", "unused-judge")
    assert r.code == 1 and "--steps must be at least 1, got -1" in r.err
    r = run_glyph("eval", "--real", "embedded", "--fake", "embedded", "--metrics", "inception_fid")
    assert r.code == 1 and "nothing was measured (inception_fid:" in r.err and "Traceback" not in r.err
    r = run_glyph("eval", "--real", "embedded", "--fake", "embedded", "--metrics", "l1", "--json", ".")
    assert r.code == 1 and "--json . is a folder; give a file name" in r.err


def test_damage_writes_every_pair_when_a_writer_has_two_samples_of_one_character(tmp_path):
    from PIL import Image

    from glyph.data.damage import write_damage_pairs

    src = tmp_path / "src" / "w1"
    src.mkdir(parents=True)
    for name, x in (("永", 10), ("永_2", 30), ("九", 20)):
        img = Image.new("L", (64, 64), 255)
        img.paste(0, (x, 10, x + 8, 54))
        img.save(src / f"{name}.png")
    result = write_damage_pairs(tmp_path / "src", tmp_path / "out", template_font=None)
    names = sorted(p.name for p in (tmp_path / "out" / "clean" / "w1").iterdir())
    assert result.pairs == 3 and names == ["九.png", "永.png", "永_2.png"]
    assert sorted(p.name for p in (tmp_path / "out" / "damaged" / "w1").iterdir()) == names


@pytest.mark.parametrize(("code", "expected"), [(28, "disk full while writing /x/out.png"),
                                                (30, "cannot write /x/out.png: Read-only file system")])
def test_a_full_or_read_only_disk_is_one_line(monkeypatch, capsys, code, expected):
    import errno
    import os

    import glyph.cli.main as cli_main

    def app():
        def run(**_kw):
            raise OSError(code, os.strerror(code), "/x/out.png")
        return run

    monkeypatch.setattr(cli_main, "build_app", app)
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["anything"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and expected in err and "internal error" not in err
    assert errno.ENOSPC == 28 and errno.EROFS == 30


@pytest.mark.parametrize(("damage", "message"), [("negative label", "holds a negative class (-3)"),
                                                  ("no images", "holds no images"),
                                                  ("five channels", "images have 5 channels")])
def test_damaged_packed_files_are_refused_by_every_data_command(tmp_path, damage, message):
    from safetensors import safe_open
    from safetensors.torch import save_file

    from glyph.data.packed import save_packed
    from glyph.data.sources import open_dataset

    from .conftest import run_glyph

    good = tmp_path / "ok.safetensors"
    save_packed(open_dataset("embedded").subset(slice(0, 20)), good)
    with safe_open(str(good), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    if damage == "negative label":
        tensors["label.char"] = tensors["label.char"].clone()
        tensors["label.char"][0] = -3
    elif damage == "no images":
        tensors = {k: v[:0] for k, v in tensors.items()}
    else:
        tensors["images"] = tensors["images"].repeat(1, 5, 1, 1)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), meta)
    for args in (["damage", str(bad), "--out", str(tmp_path / "d")],
                 ["show", str(bad), "--out", str(tmp_path / "s.png")],
                 ["merge", str(bad), str(good), "--out", str(tmp_path / "m.safetensors")]):
        r = run_glyph("data", *args)
        assert r.code == 1 and message in r.err and "Traceback" not in r.err, (args, r.err)
    assert not any((tmp_path / n).exists() for n in ("d", "s.png", "m.safetensors"))


def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint_and_leaves_no_temporary(tmp_path,
                                                                                              monkeypatch):
    import errno
    import os

    import torch

    import glyph.checkpoint as ck

    run = ck.RunDir(tmp_path / "run")
    weights = {"G": {"w": torch.zeros(1024, 256)}}
    run.save_checkpoint(1, weights, {}, {"step": 1})

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck, "save_state", full)
    with pytest.raises(ck.GlyphError, match=r"disk full at .*about 1 MB more.*step-000001, is kept"):
        run.save_checkpoint(2, weights, {}, {"step": 2})
    assert run.latest_checkpoint().name == "step-000001"
    assert not [p for p in run.ckpt_root.iterdir() if p.name.startswith(".tmp-")]


def test_a_disk_too_full_for_one_checkpoint_is_refused_before_training_new_or_resumed(tmp_path, monkeypatch):
    """Training on a disk with less room than one checkpoint would run until its first save and fail there: it is
    refused at the start instead, a new run leaving nothing behind, a resumed one its checkpoints untouched."""
    import shutil
    from collections import namedtuple

    import glyph

    run = tmp_path / "run"
    usage = shutil.disk_usage
    tight = namedtuple("usage", "total used free")(10**9, 10**9 - 4096, 4096)
    with monkeypatch.context() as m:
        m.setattr(shutil, "disk_usage", lambda _p: tight)
        with pytest.raises(glyph.GlyphError, match=r"has 0.0 MB free and a checkpoint of this run needs about "
                                                   r"\d+\.\d MB; free some space or choose another --out"):
            glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=2)
    assert not run.exists()
    glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=1, train_overrides={"sample_every": 0})
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    with monkeypatch.context() as m:
        m.setattr(shutil, "disk_usage", lambda _p: tight)
        with pytest.raises(glyph.GlyphError, match=r"continue with --resume \(the checkpoints are untouched\)"):
            glyph.train("dcgan", out=run, resume=True, steps=2)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before
    assert shutil.disk_usage is usage
    assert glyph.train("dcgan", out=run, resume=True, steps=2).reason == "finished"


def test_damaged_stroke_files_are_left_out_and_named_not_a_traceback(tmp_path):
    import json

    from .conftest import run_glyph

    good = [[[100, 800], [900, 800]], [[500, 900], [500, 100]]]  # a cross: two medians
    for ch, body in (("十", {"medians": good}), ("一", {"medians": [good[0]]}), ("永", {"medians": "x"}),
                     ("和", "{\"medians\":"), ("年", {"medians": [[[1, 2], [3]]]}), ("岁", {"medians": 5})):
        text = body if isinstance(body, str) else json.dumps(body)
        (tmp_path / f"{ch}.json").write_text(text, encoding="utf-8")
    r = run_glyph("data", "synth", "--strokes", str(tmp_path), "--charset", "十一永和年岁", "--writers", "2",
                  "--out", str(tmp_path / "syn.safetensors"))
    assert r.code == 0, r.err
    assert "skipped 4 of 6 characters with no stroke data" in r.err and "drew 4 glyphs" in r.err


def test_a_second_ctrl_c_during_cleanup_never_cuts_the_closing_line_short(tmp_path):
    """Ctrl-C stops the command; a second one while it cleans up only says so; the command still ends with its
    one line and exit code 130 (it used to exit without a word now and then)."""
    import subprocess
    import sys

    script = tmp_path / "twice.py"
    script.write_text(
        "import os, signal, time\n"
        "import glyph.cli.main as m\n"
        "def app():\n"
        "    def run(**_kw):\n"
        "        try:\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "            time.sleep(5)\n"
        "        finally:\n"
        "            os.kill(os.getpid(), signal.SIGINT)  # the second press, in the middle of the cleanup\n"
        "            time.sleep(0.3)\n"
        "            open(os.environ['MARK'], 'w').write('cleaned up')\n"
        "    return run\n"
        "m.build_app = app\n"
        "m.main(['x'])\n")
    mark = tmp_path / "mark"
    import signal

    # A shell's background job (CI) inherits SIGINT ignored; a terminal's Ctrl-C reaches a process that has it.
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "MARK": str(mark)},
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert r.returncode == 130, r.stderr
    assert "stopping: cleaning up" in r.stderr and "interrupted" in r.stderr and "Traceback" not in r.stderr
    assert mark.read_text() == "cleaned up"
