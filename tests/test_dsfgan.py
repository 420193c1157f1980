"""dsfgan: conformance, the networks' contracts, batch construction without leakage, the run verb, bad input."""

from __future__ import annotations

import shutil

import pytest
import torch

from glyph.errors import GlyphError
from glyph.imageio import read_image
from glyph.testing import check_method

from .conftest import run_glyph


def test_dsfgan_conforms():
    assert {"build", "train"} <= set(check_method("dsfgan"))


def tiny_method():
    from glyph.config import apply_overrides
    from glyph.loader import get_registry
    from glyph.plugins.dsfgan.method import DSFGAN, Config

    presets = get_registry().methods["dsfgan"].catalogue["presets"]
    m = DSFGAN(apply_overrides(Config(), presets["tiny"], "tiny"))
    m.build()
    return m


def test_style_encoder_takes_any_number_of_references():
    g = tiny_method().nets["G"].eval()
    template = torch.rand(3, 1, 64, 64) * 2 - 1
    for k in (1, 5, 64):
        glob, detail, emb = g.encode_style(torch.rand(1, k, 1, 64, 64) * 2 - 1)
        assert glob.shape == detail.shape == (1, 32) and emb.shape == (1, 16)
        assert torch.allclose(emb.norm(dim=1), torch.ones(1), atol=1e-4)
        out, structure = g.synthesize(template, glob.expand(3, -1), detail.expand(3, -1))
        assert out.shape == (3, 1, 64, 64) and float(out.detach().abs().max()) <= 1.0
        assert [s.shape[-1] for s in structure] == [4, 8, 16, 32, 64]


def test_reference_order_does_not_matter():
    g = tiny_method().nets["G"].eval()
    refs = torch.rand(1, 6, 1, 64, 64) * 2 - 1
    a = g.encode_style(refs)
    b = g.encode_style(refs[:, torch.randperm(6)])
    for x, y in zip(a, b, strict=True):
        assert torch.allclose(x, y, atol=1e-5)


def test_supcon_prefers_views_of_one_writer():
    from glyph.plugins.dsfgan.model import supcon

    torch.manual_seed(0)
    base = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    labels = torch.arange(4)
    together = torch.stack([base, base], 1)
    shuffled = torch.stack([base, base[torch.tensor([1, 2, 3, 0])]], 1)
    assert float(supcon(together, labels)) < float(supcon(shuffled, labels))


def test_sobel_outline_sees_edges_only():
    from glyph.losses import sobel_magnitude

    flat = torch.ones(1, 1, 16, 16)
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1
    assert float(sobel_magnitude(flat)[..., 2:-2, 2:-2].max()) < 1e-3
    assert float(sobel_magnitude(step)[..., 4, 7:9].min()) > 1.0


@pytest.fixture(scope="module")
def embedded():
    from glyph.data.sources import open_dataset

    return open_dataset("embedded")


def test_batches_never_show_a_target_among_the_references(embedded):
    from glyph.data.loader import split_rows

    m = tiny_method()
    m.config.groups, m.config.per_group = 4, 3
    chars, writers = embedded.labels["char"], embedded.labels["writer"]
    train = set(split_rows(embedded, "SFSC").tolist())
    template = embedded.classes["writer"].index("noto-sans-sc-regular")
    torch.manual_seed(0)
    for step in range(m.config.rec_steps, m.config.rec_steps + 6):
        phase = m.phase(step)
        rows = m.train_rows(embedded)
        assert set(rows.tolist()) <= train and not bool((writers[rows] == template).any())
        index = rows[torch.randperm(len(rows))[:phase["batch"]]]
        batch = m.make_batch(embedded, index, phase)
        k = phase["k"]
        n_groups = len(batch["writer"])
        assert batch["refs"].shape[:2] == (2 * n_groups, k)
        assert len(set(batch["writer"].tolist())) == n_groups  # one group per writer
        assert batch["template"].shape == batch["target"].shape
        for g in range(n_groups):
            targets = batch["target"][batch["group"] == g]
            refs = torch.cat([batch["refs"][g], batch["refs"][n_groups + g]])
            for t in targets:  # no reference is pixel-identical to a target of its group
                assert not any(torch.equal(t, r) for r in refs)
    # and by rows: rebuild one group's draw directly
    idx = m._prepare(embedded)
    w = idx.writers[0]
    own = idx.writer_rows[w]
    exclude = chars[own[:5]]
    drawn = m._draw(own, 10, exclude, chars)
    assert len(set(drawn.tolist())) == 10 and not bool(torch.isin(chars[drawn], exclude).any())
    assert bool((writers[drawn] == w).all())


def test_a_dataset_without_the_template_writer_is_refused(embedded):
    from glyph.errors import GlyphError

    m = tiny_method()
    m.config.template = "no-such-font"
    with pytest.raises(GlyphError, match="no template writer 'no-such-font'"):
        m.train_rows(embedded)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("dsfgan") / "run"
    r = run_glyph("train", "dsfgan", "--preset", "tiny", "--out", str(out))  # no --data: the embedded set
    assert r.code == 0, r.err
    r = run_glyph("train", "dsfgan", "--out", str(out), "--resume", "--steps", "6")
    assert r.code == 0, r.err
    return out


@pytest.fixture()
def four_photos(tmp_path):
    from glyph.resources import examples_root

    folder = tmp_path / "mywriter"
    folder.mkdir()
    for p in sorted((examples_root() / "handwriting").iterdir())[:4]:
        shutil.copy(p, folder / p.name)
    return folder


def test_run_writes_one_png_per_character_and_a_preview(run_dir, four_photos, tmp_path):
    out = tmp_path / "out"
    r = run_glyph("run", "dsfgan", "--weights", str(run_dir), "--refs", str(four_photos), "--text", "永和九年",
                  "--out", str(out))
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == sorted(["永.png", "和.png", "九.png", "年.png", "preview.png"])
    assert read_image(out / "永.png")[0].shape[:2] == (64, 64)
    assert "references used (4)" in r.err
    page = read_image(out / "preview.png")[0]
    assert page.shape[1] > 4 * 64


def test_run_reports_what_it_cannot_write_and_writes_the_rest(run_dir, four_photos, tmp_path):
    (four_photos / "notes.txt").write_text("not an image")
    (four_photos / "IMG_0001.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    r = run_glyph("run", "dsfgan", "--weights", str(run_dir), "--refs", str(four_photos), "--text",
                  "春A眠😀，不觉晓\n处处", "--out", str(out), "--columns", "3")
    assert r.code == 0, r.err
    assert "'A': not a CJK ideograph" in r.err and "'😀'" in r.err
    assert "IMG_0001" in r.err  # a reference that could not be used is named
    assert {p.stem for p in out.iterdir()} == set("春眠不觉晓处") | {"preview"}


@pytest.mark.parametrize(("args", "message"), [
    ([], "dsfgan needs --refs FOLDER"),
    (["--refs", "{empty}"], "no usable reference image"),
    (["--refs", "{photos}", "--text", "abc"], "nothing to write"),
    (["--refs", "{photos}", "--n-refs", "0"], "--n-refs must be between 1 and 64"),
    (["--refs", "{photos}", "--text", "永", "--charset", "gb2312-1"], "only one of --text"),
])
def test_bad_input_gets_one_line(run_dir, four_photos, tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{empty}", str(empty)).replace("{photos}", str(four_photos)) for a in args]
    r = run_glyph("run", "dsfgan", "--weights", str(run_dir), *args, "--out", str(tmp_path / "o"))
    assert r.code == 1 and message in r.err and "Traceback" not in r.err
    assert not (tmp_path / "o").exists()


def test_another_methods_run_folder_is_refused(tmp_path, four_photos):
    out = tmp_path / "dc"
    assert run_glyph("train", "dcgan", "--data", "embedded", "--preset", "tiny", "--out", str(out)).code == 0
    r = run_glyph("run", "dsfgan", "--weights", str(out), "--refs", str(four_photos))
    assert r.code == 1 and "dcgan" in r.err and "Traceback" not in r.err


def test_fewshot_episodes_draw_references_from_seen_characters_only(embedded):
    from glyph.eval.fewshot import build_sets, episodes, nearest_reference

    eps = episodes(embedded, "SFUC", 4, "noto-sans-sc-regular", per_writer=10)
    unseen = set(embedded.meta["splits"]["unseen_chars"])
    names = embedded.classes["char"]
    assert len(eps) == 5 and all(e.refs.shape[0] == 4 and len(e.targets) == 10 for e in eps)
    for e in eps:
        assert {names[c] for c in embedded.labels["char"][e.targets].tolist()} <= unseen
        assert not any(torch.equal(r, embedded.images[t]) for r in e.refs for t in e.targets)
    again = episodes(embedded, "SFUC", 4, "noto-sans-sc-regular", per_writer=10)
    assert all(torch.equal(a.refs, b.refs) for a, b in zip(eps, again, strict=True))  # deterministic
    sets = build_sets(embedded, eps, None)
    assert torch.equal(sets["nearest reference"].images[:10], nearest_reference(eps[0].refs, eps[0].templates))
    assert len(sets["real"]) == len(sets["template copy"]) == 50


def test_fewshot_command_measures_method_and_baselines(run_dir, tmp_path):
    import json

    out = tmp_path / "fs.json"
    r = run_glyph("eval", "fewshot", "--data", "embedded", "--weights", str(run_dir), "--refs", "2",
                  "--splits", "SFUC", "--per-writer", "5", "--metrics", "l1,ssim", "--json", str(out),
                  "--pictures", str(tmp_path / "pics"))
    assert r.code == 0, r.err
    from glyph.imageio import read_image

    sheet = read_image(tmp_path / "pics" / "sfuc-2refs.png")[0]
    assert sheet.shape[0] > 3 * 5 * 64  # 5 writers x (references, generated, truth)
    rows = json.loads(out.read_text())["rows"]
    assert [row["system"] for row in rows] == ["dsfgan", "template copy", "nearest reference"]
    assert all(0 <= row["l1"] <= 1 and row["glyphs"] == 25 for row in rows)
    r = run_glyph("eval", "fewshot", "--data", "embedded", "--weights", str(run_dir), "--splits", "UFUC")
    assert r.code == 1 and "no writer" in r.err


def test_run_builds_a_font_in_the_same_step(run_dir, four_photos, tmp_path):
    from fontTools.ttLib import TTFont

    r = run_glyph("run", "dsfgan", "--weights", str(run_dir), "--refs", str(four_photos), "--text", "永和九年",
                  "--out", str(tmp_path / "out"), "--font", str(tmp_path / "hand.ttf"))
    assert r.code == 0, r.err
    font = TTFont(tmp_path / "hand.ttf")
    assert font["name"].getDebugName(1) == "Mywriter"
    assert set(font.getBestCmap()) >= {ord(c) for c in "永和九年"}


def test_camera_file_names_are_fine_for_style_references(run_dir, four_photos, tmp_path):
    first = sorted(four_photos.iterdir())[0]
    first.rename(four_photos / "IMG_2031.jpg")  # a phone's name: the character is not needed for style
    r = run_glyph("run", "dsfgan", "--weights", str(run_dir), "--refs", str(four_photos), "--text", "永",
                  "--out", str(tmp_path / "out"))
    assert r.code == 0, r.err
    assert "references used (4)" in r.err and "IMG_2031.jpg" in r.err


def test_shipped_weights_write_the_readme_example(tmp_path):
    from glyph.imageio import read_image

    out = tmp_path / "out"
    r = run_glyph("run", "dsfgan", "--refs", "example:handwriting", "--n-refs", "4", "--text", "永和九年",
                  "--out", str(out))
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.glob("*.png")) == sorted(["永.png", "和.png", "九.png", "年.png", "preview.png"])
    glyph = read_image(out / "永.png")[0]
    assert glyph.shape[:2] == (64, 64) and 0.03 < float((glyph < 0.5).mean()) < 0.5  # ink on paper


def test_fresh_pen_writers_join_every_gan_batch(embedded, tmp_path):
    """synth_share: part of each batch's writers are procedural pen writers drawn for that step alone."""
    from pathlib import Path

    from glyph.trainer import Trainer, train_config_from

    strokes = Path(__file__).parent / "data" / "hanzi-writer-data"
    m = tiny_method()
    m.config.groups, m.config.per_group, m.config.synth_share = 4, 2, 0.5
    m.config.synth_strokes = str(strokes)
    m.build()
    n_real = len(embedded.classes["writer"])

    def batch(step):
        phase = m.phase(step)
        assert phase["batch"] == 2  # the loader brings the real writers' rows, the pen writers are drawn
        return m.make_batch(embedded, m.train_rows(embedded)[:phase["batch"]], phase), phase["k"]

    b, k = batch(m.config.rec_steps + 1)
    assert len(b["writer"]) == 4 and (b["writer"][2:] >= n_real).all() and (b["writer"][:2] < n_real).all()
    assert b["target"].shape[0] == b["template"].shape[0] == len(b["group"]) == len(b["cls"]) == 8
    assert b["refs"].shape[:2] == (8, k)
    synth_targets = b["target"][b["group"] >= 2]
    assert synth_targets.max() == 1.0 and synth_targets.min() == -1.0  # drawn glyphs, ink and paper
    again, _ = batch(m.config.rec_steps + 1)
    # The pen writers follow from the step alone (the real groups from the trainer's saved RNG state): a resumed
    # run draws the same.
    assert torch.equal(again["target"][4:], b["target"][4:]) and torch.equal(again["refs"][2:4], b["refs"][2:4])
    later, _ = batch(m.config.rec_steps + 3)  # same k, other writers
    assert not torch.equal(later["target"][4:], b["target"][4:])
    # The characters drawn are training characters with stroke data: never one the evaluation holds out.
    unseen = set(embedded.meta["splits"]["unseen_chars"])
    drawn = {embedded.classes["char"][i] for i in m._prepare(embedded).synth_chars}
    assert drawn and not drawn & unseen
    m.config.steps = 4
    trainer = Trainer(m, embedded, tmp_path / "run", train_config_from({"sample_every": 0}), quiet=True)
    assert trainer.fit() == "finished"


def test_pen_writers_without_stroke_data_say_how_to_get_them(embedded, tmp_path):
    m = tiny_method()
    m.config.groups, m.config.synth_share, m.config.synth_strokes = 4, 0.5, str(tmp_path / "nothing")
    m.build()
    with pytest.raises(GlyphError, match="corpus-extra"):
        m.train_rows(embedded)
    m.config.synth_share = 1.0
    with pytest.raises(GlyphError, match="at least one real writer"):
        m.config.validate()


def test_refs_means_one_thing_and_runs_with_the_old_training_name_still_load():
    """`--refs` is the folder of references; the training counts are `ref_counts` (run folders from before the
    rename, the shipped one included, still load)."""
    import json

    from glyph.config import apply_overrides
    from glyph.plugins.dsfgan.method import DSFGAN, Config

    assert apply_overrides(Config(), {"refs": [1, 2]}, "old run").ref_counts == (1, 2)
    shipped = json.loads((DSFGAN.shipped_weights() / "config.json").read_text())["config"]
    assert "ref_counts" in shipped and "refs" not in shipped  # v2 was written after the rename
    assert not hasattr(Config(), "refs")


def test_writer_geometry_warps_a_writers_references_targets_and_templates_alike(embedded, monkeypatch):
    """warp_share: a chosen writer's references, targets and the targets' templates get one geometry, so the
    generator learns to follow a leaning template; the others are left as they are."""
    import glyph.geometry as geometry
    from glyph.geometry import Geometry, warp

    def leaning(n: int, generator=None, strength: float = 1.0) -> Geometry:
        g = Geometry.identity(n)
        g.slant = torch.arange(1, n + 1).float() * 6  # a different lean per writer: a mix-up would show
        return g

    m = tiny_method()
    m.config.groups, m.config.per_group = 4, 3
    rows = m.train_rows(embedded)
    phase = m.phase(m.config.rec_steps)
    index = rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(0))[:phase["batch"]]]
    torch.manual_seed(1)
    plain = m.make_batch(embedded, index, phase)
    m.config.warp_share = 1.0
    monkeypatch.setattr(geometry, "random_geometries", leaning)
    torch.manual_seed(1)
    warped = m.make_batch(embedded, index, phase)
    n_groups, k = len(plain["writer"]), phase["k"]
    geo = leaning(n_groups)
    for g in range(n_groups):
        one = Geometry.identity(1)
        one.slant = geo.slant[g:g + 1]
        mine = plain["group"] == g
        for key in ("target", "template"):
            expected = warp(plain[key][mine], one.repeat_interleave(int(mine.sum())), paper=-1.0)
            assert (warped[key][mine] - expected).abs().max() < 0.02, (key, g)
        views = torch.cat([plain["refs"][g], plain["refs"][n_groups + g]])
        got = torch.cat([warped["refs"][g], warped["refs"][n_groups + g]])
        assert (got - warp(views, one.repeat_interleave(2 * k), paper=-1.0)).abs().max() < 0.02
    assert not torch.equal(warped["template"], plain["template"])
    m.config.warp_share = 0.0
    torch.manual_seed(1)
    assert torch.equal(m.make_batch(embedded, index, phase)["template"], plain["template"])
    m.config.warp_share = 1.5
    with pytest.raises(GlyphError, match=r"warp_share must be 0\.\.1"):
        m.config.validate()


def test_init_from_is_read_when_training_starts_not_when_a_run_is_loaded(tmp_path):
    """A run fine-tuned from a folder that is gone later still loads to write; training starts from its weights."""
    import dataclasses

    import glyph
    from glyph.plugins.dsfgan.method import DSFGAN

    shipped = glyph.load("dsfgan", device="cpu")
    gone = DSFGAN(dataclasses.replace(shipped.config, init_from=str(tmp_path / "gone")))
    gone.build()  # no error: nothing reads init_from yet
    with pytest.raises(glyph.GlyphError, match="no such run or export folder"):
        gone.configure_optimizers()
    tuned = DSFGAN(dataclasses.replace(shipped.config, init_from="shipped"))
    tuned.build()
    tuned.configure_optimizers()
    name, p = next(iter(tuned.nets["G"].state_dict().items()))
    assert torch.allclose(p.float(), shipped.nets["G"].state_dict()[name].float(), atol=1e-3)


def test_rec_from_starts_the_gan_with_another_runs_recogniser(tmp_path):
    """rec_from: a run's trained recogniser is loaded when training starts, so rec_steps=0 goes straight to the
    GAN; without one, rec_steps=0 is refused, and a folder without a recogniser says what to give."""
    from safetensors.torch import save_file

    trained = tiny_method()
    with torch.no_grad():
        for p in trained.nets["R"].parameters():
            p.add_(0.5)
    (tmp_path / "weights").mkdir()
    save_file({k: v.contiguous() for k, v in trained.nets["R"].state_dict().items()},
              str(tmp_path / "weights" / "R.safetensors"))
    m = tiny_method()
    m.config.rec_from, m.config.rec_steps = str(tmp_path), 0
    m.config.validate()
    assert m.phase(0)["stage"] == "gan"
    m.configure_optimizers()
    for name, p in m.nets["R"].state_dict().items():
        assert torch.equal(p, trained.nets["R"].state_dict()[name]), name
    m.config.rec_from = ""
    with pytest.raises(GlyphError, match="rec_steps must be at least 1, or 0 with rec_from"):
        m.config.validate()
    m.config.rec_from = str(tmp_path / "empty")
    with pytest.raises(GlyphError, match="no trained recogniser there"):
        m.configure_optimizers()
