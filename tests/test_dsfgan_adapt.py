"""dsfgan for a new writer: references change the output, run-time adaptation, saved writers, bad input."""

from __future__ import annotations

import itertools
import shutil

import pytest
import torch

from glyph.imageio import read_image

from .conftest import run_glyph


def glyph_cli(capsys, *args: str) -> tuple[int, str]:
    """``glyph ARGS`` in this process (no start-up per call): exit code and what it said on stderr."""
    from glyph.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    return int(exit_.value.code or 0), capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dsfgan-adapt") / "run"
    r = run_glyph("train", "dsfgan", "--preset", "tiny", "--out", str(out))  # the embedded writers
    assert r.code == 0, r.err
    return out


@pytest.fixture()
def photos(tmp_path):
    from glyph.resources import examples_root

    folder = tmp_path / "mywriter"
    folder.mkdir()
    for p in sorted((examples_root() / "handwriting").iterdir()):
        shutil.copy(p, folder / p.name)
    return folder


@pytest.fixture(scope="module")
def tiny_model(tiny_run):
    from glyph.trainer import load_run

    return load_run(tiny_run, "dsfgan", device="cpu")


def _spearman(a: list[float], b: list[float]) -> float:
    ra, rb = (torch.tensor(x).argsort().argsort().float() for x in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def test_references_change_the_output_and_more_so_for_more_different_writers():
    """The shipped model: the same templates with five writers' references give measurably different glyphs,
    and the pairs of writers that differ most in their real glyphs differ most in the generated ones."""
    from glyph.data.sources import open_dataset
    from glyph.loader import get_registry
    from glyph.trainer import load_run

    data = open_dataset("embedded")
    model = load_run(get_registry().method("dsfgan").obj.shipped_weights(), "dsfgan", device="cpu")
    names, w, ch = data.classes["writer"], data.labels["writer"], data.labels["char"]
    common = sorted(set.intersection(*(set(ch[w == i].tolist()) for i in range(len(names)))))
    pick = [common[i] for i in torch.randperm(len(common), generator=torch.Generator().manual_seed(0))[:40]]
    ref_chars, target_chars = pick[:8], pick[8:]

    def images(writer: int, chars: list[int]) -> torch.Tensor:
        return data.images[[int(torch.nonzero((w == writer) & (ch == c))[0]) for c in chars]]

    templates = images(names.index("noto-sans-sc-regular"), target_chars)
    writers = [i for i, n in enumerate(names) if n != "noto-sans-sc-regular"]
    out = {i: model.stylize(images(i, ref_chars), templates) for i in writers}
    real = {i: images(i, target_chars).float() / 255 for i in writers}
    pairs = list(itertools.combinations(writers, 2))
    d_out = [float((out[a] - out[b]).abs().mean()) for a, b in pairs]
    d_real = [float((real[a] - real[b]).abs().mean()) for a, b in pairs]
    assert min(d_out) > 0.03  # every pair of writers is told apart (a style-blind model gives 0)
    assert _spearman(d_real, d_out) > 0.6  # measured 0.89 with the shipped weights


def test_adapt_moves_towards_the_references_and_reset_restores_the_base(tiny_model, embedded_pairs):
    refs, templates = embedded_pairs
    before = {k: v.clone() for k, v in tiny_model.nets["G"].state_dict().items()}
    base_out = tiny_model.stylize(refs, templates)
    base_err = float((base_out - refs.float() / 255).abs().mean())
    report = tiny_model.adapt(refs, templates, steps=60, seconds=60, seed=0)
    adapted = tiny_model.stylize(None, templates)  # the adapted writer stands for the references
    assert report["steps"] >= 1 and report["held_refs"] == 2 and report["train_refs"] == 6
    assert float((adapted - refs.float() / 255).abs().mean()) < base_err
    tiny_model.reset_adaptation()
    after = tiny_model.nets["G"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(tiny_model.stylize(refs, templates), base_out)


def test_adaptation_stopped_midway_leaves_the_base_weights(tiny_model, embedded_pairs):
    """A host that cancels (glyph studio's Cancel, Ctrl-C in a notebook) must not leave half an adaptation in the
    shared model: the next writer would inherit it."""
    from glyph.errors import Cancelled

    refs, templates = embedded_pairs
    before = {k: v.clone() for k, v in tiny_model.nets["G"].state_dict().items()}

    def stop_at_third(step: int, steps: int) -> None:
        if step == 3:
            raise Cancelled("stopped on request")

    with pytest.raises(Cancelled):
        tiny_model.adapt(refs, templates, steps=60, seconds=60, seed=0, progress=stop_at_third)
    after = tiny_model.nets["G"].state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.requires_grad for p in tiny_model.nets["G"].decoder.parameters())


@pytest.fixture(scope="module")
def embedded_pairs():
    """Eight glyphs of one writer with their templates (uint8)."""
    from glyph.data.sources import open_dataset

    data = open_dataset("embedded")
    names, w, ch = data.classes["writer"], data.labels["writer"], data.labels["char"]
    writer, template = names.index("ukai-cn"), names.index("noto-sans-sc-regular")
    both = sorted(set(ch[w == writer].tolist()) & set(ch[w == template].tolist()))[:8]
    rows = [int(torch.nonzero((w == writer) & (ch == c))[0]) for c in both]
    trows = [int(torch.nonzero((w == template) & (ch == c))[0]) for c in both]
    return data.images[rows], data.images[trows]


def test_the_bank_prepares_each_pair_once_under_fixed_augmentations(tiny_model, embedded_pairs, monkeypatch):
    """What adaptation computes once: every training pair under BANK_VIEWS augmentations (the first the pair as it
    is), the content maps of each augmented template; with more pairs than BANK allows, fewer views each."""
    import contextlib

    from glyph.plugins.dsfgan import adapt as A
    from glyph.plugins.dsfgan.method import to_input

    refs, templates = (to_input(x) for x in embedded_pairs)
    g = tiny_model.nets["G"].eval()
    gen = torch.Generator().manual_seed(0)
    bank = A._bank(g, templates, refs, gen, contextlib.nullcontext)
    assert (bank.pairs, bank.views) == (8, A.BANK_VIEWS) and len(bank.targets) == 8 * A.BANK_VIEWS
    assert torch.allclose(bank.targets[:8], refs, atol=1e-5)  # view 0: the pair as it is
    with torch.no_grad():
        fresh = g.content(templates)
    assert all(torch.allclose(a[:8].float(), b, atol=2e-2 * float(b.abs().max()) + 1e-3)
               for a, b in zip(bank.structure, fresh, strict=True))
    assert not torch.allclose(bank.targets[8:16], refs, atol=1e-3)  # other views moved the pair
    rows = bank.rows(torch.tensor([0, 5]), gen)
    assert set((rows % 8).tolist()) == {0, 5} and int(rows.max()) < len(bank.targets)
    monkeypatch.setattr(A, "BANK", 20)
    assert A._bank(g, templates, refs, gen, contextlib.nullcontext).views == 2  # 20 // 8 pairs
    monkeypatch.setattr(A, "BANK", 4)
    assert A._bank(g, templates, refs, gen, contextlib.nullcontext).views == 1  # never fewer than the pairs


def test_calibration_brings_faded_ink_to_full_and_leaves_full_ink_alone():
    from glyph.plugins.dsfgan import adapt

    full = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    full[..., 20:44, 30:34] = 255
    full[..., 20:44, 29] = 90  # a soft edge
    faded = (full.float() * 0.55).to(torch.uint8)
    out = adapt.calibrate_ink(torch.cat([full, faded]))
    assert torch.equal(out[0], full[0])
    assert int(out[1].max()) == 255 and int((out[1] > 8).sum()) == int((faded[0] > 8).sum())  # no wider


def test_run_adapt_saves_a_writer_that_writes_the_same_later(capsys, tiny_run, photos, tmp_path):
    out, saved, later, plain = tmp_path / "out", tmp_path / "myhand", tmp_path / "later", tmp_path / "plain"
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(photos), "--text", "永和",
                          "--adapt", "--save-writer", str(saved), "--out", str(out))
    assert code == 0, err
    assert "adapted to the writer in" in err and "2 held back" in err
    assert (saved / "writer.safetensors").is_file()
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--writer", str(saved), "--text", "永和",
                          "--out", str(later))
    assert code == 0, err
    assert "writing in the hand saved in" in err
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(photos), "--text", "永和",
                          "--out", str(plain))
    assert code == 0, err
    a, b, c = (read_image(f / "永.png")[0] for f in (out, later, plain))
    assert abs(a - b).max() < 0.05  # the saved writer (fp16) draws what the adapted model drew
    assert abs(a - c).mean() > 0.005  # and adapting changed what is drawn


def test_adapt_without_named_references_says_so_and_runs(capsys, tiny_run, photos, tmp_path):
    for i, p in enumerate(sorted(photos.iterdir())):
        p.rename(photos / f"IMG_{i:04d}.jpg")
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(photos), "--text", "永",
                          "--adapt", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "--adapt needs references named after their character" in err
    assert (tmp_path / "out" / "永.png").is_file()


def test_adapt_to_a_single_named_reference_writes_without_adapting(capsys, tiny_run, photos, tmp_path):
    """One named reference teaches the adaptation too little (it measured less alike than not adapting): the hand
    is read from it, the run says so, and no writer is saved."""
    for p in sorted(photos.iterdir())[1:]:
        p.unlink()
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(photos), "--text", "永",
                          "--adapt", "--save-writer", str(tmp_path / "hand"), "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "--adapt needs at least 2 references named after their character" in " ".join(err.split())
    assert (tmp_path / "out" / "永.png").is_file() and not (tmp_path / "hand").exists()


def test_odd_references_get_one_line_each_and_the_run_goes_on(capsys, tiny_run, photos, tmp_path):
    shutil.copy(photos / "书.jpg", photos / "あ.jpg")  # kana: not a hand glyph learned from hanzi
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(photos), "--text", "永",
                          "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "あ is not a CJK ideograph" in err and "references used (8)" in err
    same = tmp_path / "same"
    same.mkdir()
    for i in range(3):
        shutil.copy(photos / "书.jpg", same / f"书_{i}.jpg")
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(same), "--text", "永",
                          "--out", str(tmp_path / "out2"))
    assert code == 0, err
    assert "all 3 references show 书" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--refs", "{photos}", "--save-writer", "{tmp}/w"], "--save-writer keeps what --adapt learns"),
    (["--refs", "{photos}", "--writer", "{tmp}/w"], "--writer already holds an adapted hand"),
    (["--writer", "{tmp}"], "holds no saved writer"),
    # outputs that cannot be written are refused before any work (not after a minute of adapting)
    (["--refs", "{photos}", "--adapt", "--save-writer", "{photos}/书.jpg"], "is a file; give a folder"),
    (["--refs", "{photos}", "--font", "{photos}/书.jpg/x.otf"], "is a file, not a folder"),
    (["--refs", "{photos}", "--sheet", "{photos}"], "is a folder; give a file name"),
])
def test_bad_writer_options_get_one_line(capsys, tiny_run, photos, tmp_path, args, message):
    args = [a.replace("{photos}", str(photos)).replace("{tmp}", str(tmp_path)) for a in args]
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), *args, "--out", str(tmp_path / "o"))
    assert code == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_writer_adapted_from_other_weights_is_refused(capsys, tiny_model, embedded_pairs, tmp_path):
    from glyph.plugins.dsfgan import adapt

    refs, templates = embedded_pairs
    tiny_model.adapt(refs, templates, steps=2)
    try:
        adapt.save_writer(tiny_model._writer, tmp_path / "myhand", adapt.base_id(tiny_model.nets["G"]))
    finally:
        tiny_model.reset_adaptation()
    code, err = glyph_cli(capsys, "run", "dsfgan", "--writer", str(tmp_path / "myhand"), "--text", "永",
                          "--out", str(tmp_path / "o2"))  # the shipped weights, not the tiny ones
    assert code == 1 and "adapted from other dsfgan weights" in err and "Traceback" not in err
    assert not (tmp_path / "o2").exists()


@pytest.mark.parametrize("source", ["--charset", "--chars-file"])
def test_a_whole_charset_or_file_ends_in_a_preview_and_a_font(capsys, tiny_run, photos, tmp_path, source):
    """The font path end to end (it once crashed in the typesetter after writing every glyph)."""
    from fontTools.ttLib import TTFont

    value = "common-20"
    if source == "--chars-file":
        value = str(tmp_path / "chars.txt")
        (tmp_path / "chars.txt").write_text("永和九年\n岁在癸丑", encoding="utf-8")
    out, font = tmp_path / "out", tmp_path / "hand.otf"
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(photos), source, value,
                          "--font", str(font), "--out", str(out))
    assert code == 0, err
    pngs = [p for p in out.glob("*.png") if p.name != "preview.png"]
    assert len(pngs) == (20 if source == "--charset" else 8)
    assert (out / "preview.png").is_file()
    cmap = TTFont(str(font)).getBestCmap()
    assert {chr(c) for c in cmap} >= {p.stem for p in pngs}


def test_faces_of_an_unseen_faces_design_never_train():
    """Noto Serif TC Bold in training would teach the 'unseen' Noto Serif CJK SC Bold: siblings stay out."""
    from glyph.data.loader import design_key, design_siblings
    from glyph.dataset import GlyphData
    from glyph.plugins.dsfgan.method import DSFGAN

    assert design_key("Noto Serif CJK SC") == design_key("Noto Serif TC") == "notoserif"
    assert design_key("M PLUS Rounded 1c") != design_key("M PLUS 1")
    faces = [("noto-sans-sc-regular", "Noto Sans CJK SC"), ("noto-serif-sc-bold", "Noto Serif CJK SC"),
             ("noto-serif-tc-bold", "Noto Serif TC"), ("ukai-cn", "AR PL UKai CN"), ("kai-b", "Some Kai")]
    names = [f for f, _ in faces]
    chars = [chr(0x4E00 + i) for i in range(40)]
    writer = torch.arange(len(faces)).repeat_interleave(len(chars))
    char = torch.arange(len(chars)).repeat(len(faces))
    data = GlyphData(torch.zeros(len(writer), 1, 64, 64, dtype=torch.uint8), {"writer": writer, "char": char},
                     {"writer": names, "char": chars},
                     {"fonts": [{"label": f, "family": fam} for f, fam in faces],
                      "splits": {"unseen_writers": ["noto-serif-sc-bold"], "unseen_chars": []}})
    assert design_siblings(data) == ["noto-serif-tc-bold"]
    model = DSFGAN()
    model.config.ref_counts = (1,)
    model.config.per_group = 2
    model.build()
    trained = set(writer[model.train_rows(data)].tolist())
    assert trained == {names.index("ukai-cn"), names.index("kai-b")}


def test_the_adaptation_budget_grows_with_the_number_of_samples():
    from glyph.plugins.dsfgan.adapt import budget

    assert budget(1) == budget(8) == (150, 60.0)
    assert budget(64) == (300, 120.0) and budget(300) == (750, 300.0) and budget(5000) == (750, 300.0)
    counts = [8, 16, 32, 64, 128, 300]
    seconds = [budget(n)[1] for n in counts]
    assert seconds == sorted(seconds) and len(set(seconds)) == len(seconds)


def _leaning_writer(folder, chars: str, slant: float) -> None:
    """A writer whose references are the template glyphs leaning by ``slant`` degrees, named after their character."""
    import numpy as np
    from PIL import Image

    from glyph.data.templates import template_glyphs
    from glyph.geometry import Geometry, warp

    folder.mkdir()
    found = template_glyphs(list(chars)).glyphs
    t = torch.from_numpy(np.stack([found[c] for c in chars])).unsqueeze(1)
    g = Geometry.identity(len(chars))
    g.slant = torch.full((len(chars),), slant)
    for c, img in zip(chars, warp(t, g, paper=0.0), strict=True):
        Image.fromarray(255 - img[0].numpy()).resize((160, 160)).save(folder / f"{c}.png")


@pytest.mark.slow  # three runs of the shipped model and two geometry fits: 30-80 s
def test_geometry_makes_the_glyphs_lean_as_the_references_do(capsys, tmp_path):
    """--geometry on references leaning 12 degrees: the measured slant is reported, the written glyphs (of other
    characters) lean about as much where without it they stand upright. Fewer than four named references: a note,
    written upright."""
    from glyph.geometry import measure

    refs = tmp_path / "leaning"
    _leaning_writer(refs, "书写字学心我的风", 12.0)
    text = "永和九年岁在癸丑"
    out = {}
    for name, extra in (("plain", []), ("geo", ["--geometry"])):
        code, err = glyph_cli(capsys, "run", "dsfgan", "--refs", str(refs), "--text", text, "--out",
                              str(tmp_path / name), *extra)
        assert code == 0, err
        out[name] = torch.stack([torch.from_numpy(1 - read_image(tmp_path / name / f"{c}.png")[0]) for c in text])
    assert "measured the hand on 8 references: leans 1" in err
    upright = _template_stack(text)
    lean_plain = measure(upright, out["plain"].unsqueeze(1)).slant
    lean_geo = measure(upright, out["geo"].unsqueeze(1)).slant
    assert abs(lean_plain) < 4 and 8 < lean_geo < 16, (lean_plain, lean_geo)

    few = tmp_path / "few"
    few.mkdir()
    for c in "书写字":
        shutil.copy(refs / f"{c}.png", few / f"{c}.png")
    code, err = glyph_cli(capsys, "run", "dsfgan", "--refs", str(few), "--text", "永", "--geometry", "--out",
                          str(tmp_path / "few-out"))
    assert code == 0 and "--geometry needs at least 4 references named after their character" in err


def test_stylize_gives_the_templates_the_habits_before_writing(tiny_model):
    from glyph.geometry import GeometryFit, warp

    templates = torch.zeros(3, 1, 64, 64, dtype=torch.uint8)
    templates[:, :, 10:54, 30:34] = 255
    fit = GeometryFit(12.0, 1.1, 2.0, 1.0, 0.0, 0.0, 1.0, 2.0, 8)
    ref = templates[:2]
    a = tiny_model.stylize(ref, templates, geometry=fit)
    b = tiny_model.stylize(ref, warp(templates, fit.geometry(3), paper=0.0))
    assert torch.equal(a, b) and not torch.equal(a, tiny_model.stylize(ref, templates))


@pytest.mark.slow
def test_a_saved_writer_keeps_its_measured_geometry(capsys, tiny_run, tmp_path):
    refs, saved = tmp_path / "leaning", tmp_path / "hand"
    _leaning_writer(refs, "书写字学心我的风", 12.0)
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--refs", str(refs), "--text", "永",
                          "--geometry", "--adapt", "--save-writer", str(saved), "--out", str(tmp_path / "a"))
    assert code == 0, err
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--writer", str(saved), "--text", "永",
                          "--out", str(tmp_path / "b"))
    assert code == 0 and "leans 1" in err, err
    a, b = (read_image(tmp_path / f / "永.png")[0] for f in ("a", "b"))
    assert abs(a - b).max() < 0.05
    code, err = glyph_cli(capsys, "run", "dsfgan", "--weights", str(tiny_run), "--writer", str(saved), "--geometry",
                          "--text", "永", "--out", str(tmp_path / "c"))
    assert code == 1 and "--writer already holds an adapted hand" in err


def _template_stack(text: str) -> torch.Tensor:
    import numpy as np

    from glyph.data.templates import template_glyphs

    found = template_glyphs(list(text)).glyphs
    return torch.from_numpy(np.stack([found[c] for c in text])).unsqueeze(1)
