"""restorecae: conformance, the published size, seeded on-the-fly damage, the run verb and its errors."""

from __future__ import annotations

import pytest
import torch

from glyph.imageio import read_image
from glyph.testing import check_method

from .conftest import run_glyph


def test_restorecae_conforms():
    assert {"build", "train"} <= set(check_method("restorecae"))


def test_published_model_size():
    from glyph.plugins.restorecae.model import RestoreAE

    net = RestoreAE("convnext_tiny", 768, (3, 3, 9, 3), 224)
    assert round(sum(p.numel() for p in net.parameters()) / 1e6, 1) == 51.5  # seeds-code-report §5.2 (latent 768)
    assert round(sum(p.numel() for p in net.encoder.parameters()) / 1e6, 1) == 27.8
    small = RestoreAE(resolution=64)
    assert small(torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64)).shape == (2, 1, 64, 64)
    assert small(torch.rand(2, 1, 64, 64), None).shape == (2, 1, 64, 64)  # unknown characters: a blank template


def test_training_pairs_are_seeded_and_keep_their_template(tmp_path):
    from glyph.data.sources import open_dataset
    from glyph.plugins.restorecae.method import Config, RestoreCAE

    data = open_dataset("embedded")
    m = RestoreCAE(Config(template_dropout=0.5))
    rows = m.train_rows(data)[:64]
    torch.manual_seed(3)
    a = m.make_batch(data, rows, {})
    torch.manual_seed(3)
    b = m.make_batch(data, rows, {})
    assert torch.equal(a["damaged"], b["damaged"]) and torch.equal(a["template"], b["template"])
    assert not torch.equal(a["damaged"], a["clean"])
    kept = a["template"].flatten(1).amax(1) > 0
    assert 0.2 < float(kept.float().mean()) < 0.8  # about half the templates blanked
    template = data.classes["writer"].index("noto-sans-sc-regular")
    rows_t = {int(c): int(r) for r, c in zip(torch.nonzero(data.labels["writer"] == template).flatten(),
                                             data.labels["char"][data.labels["writer"] == template], strict=True)}
    i = int(torch.nonzero(kept)[0])
    expect = data.images[rows_t[int(data.labels["char"][rows[i]])]].float() / 255
    assert torch.equal(a["template"][i], expect)  # the same character's standard form


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("restorecae")
    run = root / "run"
    r = run_glyph("train", "restorecae", "--data", "embedded", "--preset", "tiny", "--out", str(run))
    assert r.code == 0, r.err
    r = run_glyph("train", "restorecae", "--out", str(run), "--resume", "--steps", "6")
    assert r.code == 0, r.err
    r = run_glyph("data", "damage", "embedded", "--n", "6", "--out", str(root / "pairs"))
    assert r.code == 0, r.err
    return run, root / "pairs"


def test_restore_a_folder_with_a_comparison_sheet(trained, tmp_path):
    run, pairs = trained
    out = tmp_path / "restored"
    r = run_glyph("run", "restorecae", "--weights", str(run), "--input", str(pairs / "damaged"), "--out", str(out),
                  "--compare", str(tmp_path / "sheet.png"), "--clean", str(pairs / "clean"))
    assert r.code == 0, r.err
    restored = sorted(out.rglob("*.png"))
    assert len(restored) == 6 and read_image(restored[0])[0].shape[:2] == (64, 64)
    assert "L1 restored" in r.out and "SSIM restored" in r.out
    sheet = read_image(tmp_path / "sheet.png")[0]
    assert sheet.shape[1] >= 12 * 64 and sheet.shape[0] >= 2 * 64  # 4 (damaged, restored, clean) triples a row


def test_restore_without_templates_and_with_chars(trained, tmp_path):
    run, pairs = trained
    one = sorted((pairs / "damaged").rglob("*.png"))[0]
    r = run_glyph("run", "restorecae", "--weights", str(run), "--input", str(one), "--out", str(tmp_path / "a"),
                  "--no-template")
    assert r.code == 0 and "without templates" in r.err
    r = run_glyph("run", "restorecae", "--weights", str(run), "--input", str(one), "--out", str(tmp_path / "b"),
                  "--chars", "永")
    assert r.code == 0, r.err


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --input"),
    (["--input", "{missing}"], "does not exist"),
    (["--input", "{empty}"], "no images in"),
    (["--input", "{damaged}", "--chars", "永"], "--chars has 1 characters for 6 images"),
    (["--input", "{damaged}", "--ink", "blue"], "--ink 'blue'"),
])
def test_bad_input_gets_one_line(trained, tmp_path, args, message):
    run, pairs = trained
    (tmp_path / "empty").mkdir()
    subs = {"{missing}": str(tmp_path / "nope"), "{empty}": str(tmp_path / "empty"),
            "{damaged}": str(pairs / "damaged")}
    args = [subs.get(a, a) for a in args]
    r = run_glyph("run", "restorecae", "--weights", str(run), *args, "--out", str(tmp_path / "o"))
    assert r.code == 1 and message in r.err and "Traceback" not in r.err


def test_eval_restore_measures_damaged_restored_and_clean(trained, tmp_path):
    import json

    from glyph.imageio import read_image

    run, _ = trained
    out = tmp_path / "r.json"
    r = run_glyph("eval", "restore", "--data", "embedded", "--weights", str(run), "--splits", "SFUC",
                  "--per-writer", "4", "--metrics", "l1,psnr,content_acc", "--json", str(out),
                  "--pictures", str(tmp_path / "pics"))
    assert r.code == 0, r.err
    record = json.loads(out.read_text())
    rows = {row["system"]: row for row in record["rows"]}
    assert list(rows) == ["clean", "damaged", "template copy", "restorecae", "restorecae without template"]
    assert "l1" not in rows["clean"] and 0 <= rows["clean"]["content_acc"] <= 1  # only what the judge reads
    assert rows["damaged"]["l1"] > 0 and rows["damaged"]["glyphs"] == rows["restorecae"]["glyphs"] > 0
    assert record["protocol"]["damage_seed"] == 0
    assert read_image(tmp_path / "pics" / "restore-sfuc.png")[0].shape[1] >= 12 * 64  # 12 glyphs a row
    again = tmp_path / "again.json"
    r = run_glyph("eval", "restore", "--data", "embedded", "--weights", str(run), "--splits", "SFUC",
                  "--per-writer", "4", "--metrics", "l1", "--json", str(again))
    assert r.code == 0, r.err
    assert json.loads(again.read_text())["rows"][1]["l1"] == rows["damaged"]["l1"]  # the same seeded damage


def test_eval_restore_refuses_a_method_that_does_not_restore(tmp_path):
    r = run_glyph("eval", "restore", "--data", "embedded", "--method", "dcgan")
    assert r.code == 1 and "not a restoration method" in r.err and "Traceback" not in r.err


def test_shipped_weights_restore_the_bundled_rubbings(tmp_path):
    r = run_glyph("run", "restorecae", "--input", "example:inscription/damaged", "--clean",
                  "example:inscription/clean", "--out", str(tmp_path / "restored"),
                  "--compare", str(tmp_path / "s.png"))
    assert r.code == 0, r.err
    assert len(list((tmp_path / "restored").glob("*.png"))) == 8 and (tmp_path / "s.png").stat().st_size > 0
    numbers = dict(line.split(": ") for line in r.out.splitlines() if line.startswith(("L1 damaged", "L1 restored")))
    assert float(numbers["L1 restored"]) < 0.6 * float(numbers["L1 damaged"])  # visibly closer to the clean glyphs
