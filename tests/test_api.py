"""The Python API: ``glyph.load`` and the capabilities give the same images the CLI writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import glyph
from glyph.cli.main import main
from glyph.data.templates import template_glyphs


def cli(*args: str) -> None:
    """Run the CLI in this process; any exit but 0 fails the test."""
    try:
        main(list(args))
    except SystemExit as e:
        assert e.code in (0, None), f"glyph {' '.join(args)} exited {e.code}"


def pixels(image: Image.Image | Path) -> np.ndarray:
    return np.asarray(image if isinstance(image, Image.Image) else Image.open(image).convert("L"))


def test_the_readme_main_job_in_three_lines_writes_what_the_cli_writes(tmp_path):
    hand = glyph.load("dsfgan")
    pages = hand.write("example:handwriting", "永和九年, ok")
    assert list(pages) == list("永和九年")  # CJK characters only, in text order
    assert all(p.mode == "L" and p.size == (64, 64) for p in pages.values())
    ink = 255 - pixels(pages["永"]).astype(int)
    assert ink.mean() > 5 and np.median(pixels(pages["永"])) > 200  # dark ink on white paper

    cli("run", "dsfgan", "--refs", "example:handwriting", "--text", "永和九年", "--out", str(tmp_path / "cli"))
    for ch in "永和九年":
        assert np.array_equal(pixels(pages[ch]), pixels(tmp_path / "cli" / f"{ch}.png")), ch
    assert isinstance(hand, glyph.Writer) and not isinstance(hand, glyph.Sampler)


def test_write_reports_what_it_left_out():
    ctx = glyph.RunContext()
    pages = glyph.load("dsfgan").write("example:handwriting", "永a", n_refs=2, ctx=ctx)
    assert list(pages) == ["永"]
    assert any("'a'" in source for source, _ in ctx.report.problems)


@pytest.mark.parametrize("name", ["dcgan", "vae", "progan", "ddpm"])
def test_a_sampler_draws_what_the_cli_draws_with_the_same_seed(name, tmp_path):
    model = glyph.load(name, precision="fp32")
    assert isinstance(model, glyph.Sampler)
    options = {"steps": 4} if name == "ddpm" else {}
    images = model.sample(3, seed=7, **options)
    assert [im.size for im in images] == [(64, 64)] * 3
    assert not np.array_equal(pixels(images[0]), pixels(images[1]))
    again = model.sample(3, seed=7, **options)
    assert all(np.array_equal(pixels(a), pixels(b)) for a, b in zip(images, again, strict=True))

    extra = ["--steps", "4"] if name == "ddpm" else []
    cli("--seed", "7", "--precision", "fp32", "run", name, "--n", "3", "--out-dir", str(tmp_path / "cli"), *extra)
    for i, im in enumerate(images):
        assert np.array_equal(pixels(im), pixels(tmp_path / "cli" / f"{i:06d}.png")), i


def test_restore_takes_a_folder_files_or_pil_images_and_matches_the_cli(tmp_path):
    src = tmp_path / "damaged"
    src.mkdir()
    clean = template_glyphs(list("永和")).glyphs
    rng = np.random.default_rng(0)
    for ch, g in clean.items():
        page = 255 - g.astype(np.int16)  # dark ink on white
        page[rng.random(page.shape) < 0.08] = 255  # flecks of lost ink
        Image.fromarray(page.astype(np.uint8)).save(src / f"{ch}.png")
    model = glyph.load("restorecae")
    assert isinstance(model, glyph.Restorer)
    from_folder = model.restore(src)
    from_pil = model.restore([Image.open(src / f"{ch}.png") for ch in "和永"], chars="和永")
    assert len(from_folder) == 2 and from_folder[0].mode == "L"
    assert np.array_equal(pixels(from_folder[0]), pixels(from_pil[0]))  # the listing is sorted: 和 before 永

    cli("run", "restorecae", "--input", str(src), "--out", str(tmp_path / "cli"))
    assert np.array_equal(pixels(from_folder[1]), pixels(tmp_path / "cli" / "永.png"))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: glyph.load("dsfgann"), "did you mean 'dsfgan'"),
    (lambda: glyph.load("filter", weights="runs/x"), "no weights to load"),
    (lambda: glyph.load("dcgan", precision="fp8"), "precision 'fp8'"),
    (lambda: glyph.load("dcgan", device="tpu"), "tpu"),
    (lambda: glyph.load("dcgan").sample(0), "between 1 and"),
    (lambda: glyph.load("ddpm").sample(1, sampler="euler"), "ddim or ancestral"),
    (lambda: glyph.load("restorecae").restore(["nowhere.png"]), "nowhere.png"),
    (lambda: glyph.load("dsfgan").write(None, "永"), "needs refs"),
])
def test_bad_calls_raise_one_glyph_error(call, message):
    with pytest.raises(glyph.GlyphError, match=message):
        call()


def test_train_returns_what_it_did_and_a_run_that_loads(tmp_path):
    run = tmp_path / "run"
    done = glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=2, train_overrides={"sample_every": 0})
    assert (done.reason, done.step, done.steps, done.run) == ("finished", 2, 2, run)
    more = glyph.train("dcgan", out=run, resume=True, steps=3)
    assert (more.reason, more.step) == ("finished", 3)
    assert len(glyph.load("dcgan", weights=run).sample(2, seed=1)) == 2
    with pytest.raises(glyph.GlyphError, match="already holds a run"):
        glyph.train("dcgan", "embedded", out=run)
    with pytest.raises(glyph.GlyphError, match="keeps its config"):
        glyph.train("dcgan", out=run, resume=True, preset="tiny")


def test_export_and_load_for_run_are_what_glyph_export_and_glyph_run_call(tmp_path):
    from glyph.api import export, load_for_run

    run = tmp_path / "run"
    glyph.train("dcgan", "embedded", out=run, preset="tiny", steps=2, train_overrides={"sample_every": 0})
    done = export(run, tmp_path / "slim")
    assert (done.method, done.parts, done.files[-1].name) == ("dcgan", ("G",), "config.json")
    assert done.megabytes > 0 and len(load_for_run("dcgan", done.out, device="cpu").sample(1)) == 1
    for call, message in [(lambda: export(run, tmp_path / "slim"), "not an empty folder"),
                          (lambda: export(run, tmp_path / "b", checkpoint="best"), "no best checkpoint"),
                          (lambda: load_for_run("dcgan", run, preset="tiny"), "--preset applies to training"),
                          (lambda: load_for_run("filter", preset="nope"), "no preset 'nope'")]:
        with pytest.raises(glyph.GlyphError, match=message):
            call()
    assert load_for_run("filter", preset="soft").config != glyph.get_method("filter").Config()


def test_the_rows_glyph_list_and_plugins_print_come_from_the_registry():
    from glyph.method import run_options
    from glyph.registry import failure_rows, method_rows, plugin_rows

    registry = glyph.get_registry()
    assert [r["name"] for r in method_rows(registry)] == sorted(registry.methods)
    assert plugin_rows(registry) == [] and {r["name"] for r in plugin_rows(registry, builtin=True)} >= {"dcgan"}
    assert failure_rows(registry) == [{"name": f.plugin, "distribution": f.dist, "version": f.version,
                                       "stage": f.stage, "error": f.error} for f in registry.failures]
    ink = next(o for o in run_options(glyph.get_method("filter")) if o.name == "ink")
    assert (ink.flag, ink.plain_type, ink.choices) == ("--ink", str, ["dark", "light", "auto"])


def test_evaluate_returns_the_numbers_and_protocol_the_cli_writes(tmp_path):
    calls = []
    result = glyph.evaluate("embedded", "run:dcgan", metrics=["fgd", "readable"], n=64, seed=0,
                            progress=lambda task, done, total: calls.append((task, done, total)))
    assert set(result.results) == {"fgd", "readable"} and result.skipped == {}
    assert result.protocol["fake"]["count"] == 64 and result.fake == "run:dcgan (64 samples)"
    assert calls[-1] == ("metrics", 2, 2) and ("sampling run:dcgan", 64, 64) in calls

    cli("--seed", "0", "eval", "--real", "embedded", "--fake", "run:dcgan", "--metrics", "fgd,readable", "--n", "64",
        "--json", str(tmp_path / "r.json"))
    import json

    assert json.loads((tmp_path / "r.json").read_text())["results"] == result.results
    with pytest.raises(glyph.GlyphError, match="unknown metric"):
        glyph.evaluate("embedded", "embedded", metrics=["nope"])
