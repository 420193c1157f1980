"""Metrics against peer implementations, the judge's contract, and `glyph eval` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from glyph import GlyphData, GlyphError
from glyph.data.sources import open_dataset, save_dataset
from glyph.eval import stats
from glyph.eval.judge import JudgeNet, default_judge_dir, export_judge, load_judge
from glyph.eval.metrics import EvalContext, evaluate

from .conftest import run_glyph


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    """A randomly initialised judge over the embedded dataset's classes (the metrics' plumbing, not its skill)."""
    emb = open_dataset("embedded")
    torch.manual_seed(0)
    net = JudgeNet("resnet10t", len(emb.classes["char"]), len(emb.classes["writer"]))
    card = {"arch": "resnet10t", "charset": {"name": "common-1000", "chars": "".join(emb.classes["char"])},
            "styles": emb.classes["writer"]}
    return export_judge(net, card, tmp_path_factory.mktemp("judge"))


@pytest.fixture(scope="module")
def emb():
    return open_dataset("embedded")


def test_frechet_matches_scipy_sqrtm():
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    for d in (8, 64, 256):
        a, b = rng.normal(size=(600, d)), rng.normal(size=(500, d)) * 1.3 + 0.2
        m1, s1 = stats.mean_cov(a)
        m2, s2 = stats.mean_cov(b)
        covmean = scipy_linalg.sqrtm(s1 @ s2).real
        ref = float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
        assert stats.frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-6)


def test_frechet_of_a_set_with_itself_is_zero_and_survives_singular_covariances():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(20, 64))  # fewer samples than dimensions: singular covariance
    m, s = stats.mean_cov(f)
    assert abs(stats.frechet_distance(m, s, m, s)) < 1e-6 * np.trace(s)


def test_ssim_matches_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    for shape in ((64, 64), (48, 80), (11, 11)):
        x = rng.random(shape)
        y = np.clip(x + rng.normal(0, 0.2, shape), 0, 1)
        ref = skm.structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=1.0)
        got = float(stats.ssim(torch.tensor(x)[None, None], torch.tensor(y)[None, None]))
        assert got == pytest.approx(ref, abs=1e-3)


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(3)
    same = stats.kid(rng.normal(size=(800, 32)), rng.normal(size=(800, 32)), subsets=20, subset_size=400)
    other = stats.kid(rng.normal(size=(800, 32)), rng.normal(size=(800, 32)) + 0.5, subsets=20, subset_size=400)
    assert abs(same[0]) < 3 * same[1] + 1e-3 and other[0] > 10 * abs(same[0])


@pytest.mark.slow
def test_inception_network_matches_pytorch_fid(tmp_path, monkeypatch):
    pfi = pytest.importorskip("pytorch_fid.inception")
    from glyph.eval.inception import FIDInception

    torch.manual_seed(0)
    mine = FIDInception()
    state = {k: (torch.randn_like(v) * 0.05 if v.is_floating_point() else v) for k, v in mine.net.state_dict().items()}
    for k in state:
        if k.endswith("running_var"):
            state[k] = torch.rand_like(state[k]) + 0.5
    torch.save(state, tmp_path / "incep.pth")
    mine.load(tmp_path / "incep.pth").eval()
    # pytorch-fid would download its weights; hand it the same local random state dict instead.
    def local_weights(*args, **kwargs):
        return torch.load(tmp_path / "incep.pth", weights_only=True)

    monkeypatch.setattr(pfi, "load_state_dict_from_url", local_weights)
    theirs = pfi.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True).eval()
    rng = torch.Generator().manual_seed(1)
    xa, xb = torch.rand(24, 3, 64, 64, generator=rng), torch.rand(24, 3, 64, 64, generator=rng) * 0.8
    with torch.no_grad():
        fa, fb = mine(xa).double().numpy(), mine(xb).double().numpy()
        ta, tb = (theirs(x)[0].flatten(1).double().numpy() for x in (xa, xb))
    ours = stats.frechet_distance(*stats.mean_cov(fa), *stats.mean_cov(fb))
    ref = stats.frechet_distance(*stats.mean_cov(ta), *stats.mean_cov(tb))
    assert ours == pytest.approx(ref, rel=1e-4)


def test_identical_sets_score_zero_and_shuffled_labels_score_chance(tiny_judge, emb):
    ctx = EvalContext(judge_path=tiny_judge)
    part = emb.subset(slice(0, 600))
    results, _ = evaluate(part, part, ["fgd", "ssim", "l1", "psnr"], ctx)
    assert abs(results["fgd"]) < 1e-6 and results["ssim"] == pytest.approx(1.0) and results["l1"] == 0.0
    assert results["psnr"] == pytest.approx(100.0)
    judge = load_judge(tiny_judge)
    # A judge that reads every image right, tested with the true and with shuffled labels.
    ctx2 = EvalContext(judge_path=tiny_judge)
    probs = np.eye(len(judge.chars))[part.labels["char"].numpy()]
    from glyph.eval.metrics import JudgeOutputs

    ctx2.remember(part, JudgeOutputs(np.zeros((len(part), 4)), probs, np.ones((len(part), 6)) / 6))
    assert evaluate(part, part, ["content_acc"], ctx2)[0]["content_acc"] == 1.0
    shuffled = part.subset(slice(None))
    shuffled.labels = {**part.labels, "char": part.labels["char"][torch.randperm(len(part))]}
    ctx2.remember(shuffled, ctx2.outputs(part))
    acc = evaluate(part, shuffled, ["content_acc"], ctx2)[0]["content_acc"]
    assert acc < 0.05  # chance is about 1 in the number of distinct characters present
    assert evaluate(part, part, ["readable"], ctx2)[0]["readable"] == 1.0
    unsure = part.subset(slice(None))
    ctx2.remember(unsure, JudgeOutputs(np.zeros((len(part), 4)), probs * 0.4 + 0.6 / len(judge.chars),
                                       np.ones((len(part), 6)) / 6))
    assert evaluate(part, unsure, ["readable"], ctx2)[0]["readable"] == 0.0  # top probability 0.4: not read


def _writers_set(writer_names: list[str], owners: list[int]) -> GlyphData:
    """Blank glyphs labelled with writers (the features are injected: the metric's arithmetic, not the judge's)."""
    n = len(owners)
    return GlyphData(torch.zeros(n, 1, 8, 8, dtype=torch.uint8),
                     {"writer": torch.tensor(owners), "char": torch.arange(n) % 10},
                     {"writer": writer_names, "char": [str(i) for i in range(10)]}, {"ink": "glyph"})


def test_writer_id_finds_each_writer_by_its_real_centroid():
    from glyph.eval.metrics import JudgeOutputs

    rng = np.random.default_rng(4)
    names = [f"pen-{i}" for i in range(8)]
    owners = [w for w in range(8) for _ in range(40)]
    centres = rng.normal(size=(8, 32)) * 3  # separable writers: noise far below the distance between centres
    feats = centres[owners] + rng.normal(size=(len(owners), 32)) * 0.5
    ctx = EvalContext()

    def with_features(data: GlyphData, f: np.ndarray) -> GlyphData:
        ctx.remember(data, JudgeOutputs(f, np.ones((len(f), 10)) / 10, np.ones((len(f), 6)) / 6))
        return data

    real = with_features(_writers_set(names, owners), feats)
    # Fakes equal to the reals, their writers numbered in another order: matched by name, all found.
    flipped = with_features(_writers_set(names[::-1], [7 - w for w in owners]), feats.copy())
    res, skipped = evaluate(real, flipped, ["writer_id"], ctx)
    assert res == {"writer_id": 1.0, "writer_id_n": 8.0} and not skipped
    shuffled = with_features(_writers_set(names, list(rng.permutation(owners))), feats.copy())
    acc = evaluate(real, shuffled, ["writer_id"], ctx)[0]["writer_id"]
    assert abs(acc - 1 / 8) < 0.08  # chance: one writer in eight
    # A generated writer the real set lacks is not counted; one real writer has nobody to be told from.
    extra = with_features(_writers_set([*names, "stranger"], [*owners[:40], 8]), feats[:41].copy())
    assert evaluate(real, extra, ["writer_id"], ctx)[0]["writer_id"] == 1.0
    alone = with_features(_writers_set(names, owners[:40]), feats[:40].copy())
    res, skipped = evaluate(alone, alone, ["writer_id"], ctx)
    assert res == {} and "at least 2" in skipped["writer_id"]


def test_pair_metrics_align_by_labels(tiny_judge, emb):
    part = emb.subset(slice(0, 50))
    reordered = part.subset(torch.randperm(50, generator=torch.Generator().manual_seed(0)))
    res, _ = evaluate(part, reordered, ["l1", "rmse", "ssim"], EvalContext(judge_path=tiny_judge))
    assert res["l1"] == 0.0 and res["rmse"] == 0.0 and res["pairs"] == 50


def test_inception_fid_without_weights_says_how_to_get_them(tiny_judge, emb, monkeypatch):
    monkeypatch.delenv("GLYPH_INCEPTION_WEIGHTS", raising=False)
    part = emb.subset(slice(0, 10))
    results, skipped = evaluate(part, part, ["inception_fid"], EvalContext(judge_path=tiny_judge))
    assert results == {} and "--inception-weights" in skipped["inception_fid"]


def test_glyph_eval_folders_packed_and_run(tiny_judge, emb, tmp_path):
    real = emb.subset(slice(0, 300))
    fake = emb.subset(slice(300, 600))
    save_dataset(real, tmp_path / "real.safetensors")
    save_dataset(fake, tmp_path / "fake")  # a folder in the writers layout: labels from file names
    out = tmp_path / "r.json"
    r = run_glyph("eval", "--real", str(tmp_path / "real.safetensors"), "--fake", str(tmp_path / "fake"),
                  "--judge", str(tiny_judge), "--json", str(out))
    assert r.code == 0, r.err
    rec = json.loads(out.read_text())
    assert {"fgd", "kid", "content_acc", "style_acc", "judge_is"} <= set(rec["results"])
    proto = rec["protocol"]
    assert proto["real"]["count"] == 300 and proto["fake"]["count"] == 300 and proto["real"]["ink"] == "glyph"
    assert proto["judge"]["sha256"] and proto["glyph_version"]
    r = run_glyph("eval", "--real", "embedded", "--fake", str(tmp_path / "fake"), "--metrics", "fgd,nope",
                  "--judge", str(tiny_judge))
    assert r.code == 1 and "unknown metric 'nope'" in r.err
    r = run_glyph("eval", "--real", "embedded")
    assert r.code == 1 and "--fake" in r.err


def test_glyph_eval_samples_a_run_folder(tiny_judge, tmp_path):
    from .conftest import make_plugin_dist
    from .test_train import TOY

    site = make_plugin_dist(tmp_path / "toy", "glyph-toy", {"glyph_toy": TOY}, {"toy": "glyph_toy"})
    run = tmp_path / "run"
    r = run_glyph("train", "toygan", "--data", "embedded", "--preset", "tiny", "--out", str(run), extra_path=[site])
    assert r.code == 0, r.err
    r = run_glyph("eval", "--real", "embedded", "--fake", f"run:{run}", "--n", "64", "--metrics", "fgd,kid",
                  "--judge", str(tiny_judge), "--json", str(tmp_path / "e.json"), extra_path=[site])
    assert r.code == 0, r.err
    rec = json.loads((tmp_path / "e.json").read_text())
    assert rec["protocol"]["fake"]["count"] == 64 and rec["results"]["fgd"] > 0


def test_corrupt_or_mismatched_judge_is_refused(tiny_judge, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_judge, bad)
    (bad / "judge.safetensors").write_bytes((bad / "judge.safetensors").read_bytes()[:1000])
    with pytest.raises(GlyphError, match="does not match its card"):
        load_judge(bad)
    with pytest.raises(GlyphError, match="no judge in"):
        load_judge(tmp_path / "none")


def test_shipped_judge_loads_and_its_card_holds_measured_accuracy():
    folder = default_judge_dir()
    if not (folder / "judge.json").is_file():
        pytest.skip("no judge shipped in this checkout yet")
    judge = load_judge()
    card = judge.card
    assert card["charset"]["size"] == len(judge.chars) == 6763 and len(judge.styles) >= 20
    assert card["heldout"]["char_top1"] > 0.5
    assert (folder / "judge.safetensors").stat().st_size <= 20 * 2**20


def test_shipped_judge_reads_clean_renders(emb):
    if not (default_judge_dir() / "judge.json").is_file():
        pytest.skip("no judge shipped in this checkout yet")
    part = emb.subset(torch.arange(0, len(emb), 11))
    res, _ = evaluate(part, part, ["content_acc"], EvalContext())
    assert res["content_acc"] > 0.6


def test_metrics_are_registered_plugins():
    from glyph.loader import get_registry

    assert {"fgd", "kid", "content_acc", "style_acc", "writer_id", "judge_is", "ssim", "psnr", "l1", "rmse",
            "inception_fid"} <= set(get_registry().metrics)
    assert isinstance(GlyphData, type)


def test_a_freed_sets_judgements_never_reach_a_new_set_of_the_same_size():
    """The judge's outputs were cached by id(): once a set was freed, a new set could get its id and, silently,
    its judgements (a few-shot table once showed the template copy's numbers for another system)."""
    from glyph.eval.metrics import EvalContext, JudgeOutputs

    ctx = EvalContext()
    fresh = GlyphData(torch.zeros(4, 1, 64, 64, dtype=torch.uint8), {}, {}, {})
    earlier = GlyphData(torch.zeros(4, 1, 64, 64, dtype=torch.uint8), {}, {}, {})
    stale = JudgeOutputs(np.ones((4, 2)), np.ones((4, 3)) / 3, np.ones((4, 2)) / 2)
    ctx._outputs[id(fresh)] = (earlier, stale)  # what a freed set whose address `fresh` now has would leave
    assert ctx.outputs(fresh) is not stale and ctx.outputs(fresh).features.shape == (4, 512)
