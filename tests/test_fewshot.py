"""The few-shot protocol without trained weights: episodes with reference templates, run-time adaptation, timing."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from glyph.errors import GlyphError
from glyph.eval.fewshot import ADAPTED, METHOD, build_sets, episodes, imitate, nearest_reference

TEMPLATE = "noto-sans-sc-regular"


class Plain:
    """A few-shot 'method' without adaptation: it writes the template itself."""

    name = "fakeimitate"

    def __init__(self) -> None:
        self.config = SimpleNamespace(template=TEMPLATE)

    def stylize(self, refs: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
        return templates.float() / 255


class Adaptable(Plain):
    """Adapted to a writer, it writes that writer's nearest reference instead: the two rows must differ."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.adapted: torch.Tensor | None = None
        self.calls: list[dict] = []
        self.resets = 0
        self.fail = fail

    def adapt(self, refs, ref_templates, *, steps=None, seconds=60.0, progress=None) -> dict[str, float]:
        assert refs.dtype == ref_templates.dtype == torch.uint8 and refs.shape == ref_templates.shape
        self.adapted = refs
        self.calls.append({"k": len(refs), "steps": steps, "seconds": seconds})
        if self.fail:
            raise RuntimeError("out of memory halfway through adapting")
        return {"steps": 3, "seconds": 0.5, "note": "not a number: left out of the mean"}

    def reset_adaptation(self) -> None:
        self.adapted = None
        self.resets += 1

    def stylize(self, refs: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
        if self.adapted is None:
            return super().stylize(refs, templates)
        assert torch.equal(self.adapted, refs)  # adapted to this very writer
        return nearest_reference(refs, templates).float() / 255


@pytest.fixture(scope="module")
def emb():
    from glyph.data.sources import open_dataset

    return open_dataset("embedded")


def _template_of(data, chars: torch.Tensor) -> torch.Tensor:
    t = data.classes["writer"].index(TEMPLATE)
    rows = torch.nonzero(data.labels["writer"] == t).flatten()
    by_char = dict(zip(data.labels["char"][rows].tolist(), rows.tolist(), strict=True))
    return data.images[[by_char[c] for c in chars.tolist()]]


def test_every_reference_comes_with_its_template_and_only_templated_characters_are_drawn(emb):
    eps = episodes(emb, "SFUC", 4, TEMPLATE, per_writer=6, seed=3)
    for e in eps:
        assert e.ref_templates.shape == e.refs.shape and e.ref_templates.dtype == torch.uint8
        ref_rows = [next(i for i in torch.nonzero(emb.labels["writer"] == e.writer).flatten().tolist()
                         if torch.equal(emb.images[i], r)) for r in e.refs]
        assert torch.equal(e.ref_templates, _template_of(emb, emb.labels["char"][ref_rows]))
    # A template face that lacks most seen characters: references come only from the ones it has.
    t = emb.classes["writer"].index(TEMPLATE)
    keep_chars = torch.arange(0, len(emb.classes["char"]), 7)
    drop = (emb.labels["writer"] == t) & ~torch.isin(emb.labels["char"], keep_chars)
    unseen = {emb.classes["char"].index(c) for c in emb.meta["splits"]["unseen_chars"]}
    drop &= ~torch.isin(emb.labels["char"], torch.tensor(sorted(unseen)))  # targets keep their templates
    sparse = emb.subset(torch.nonzero(~drop).flatten())
    first = episodes(sparse, "SFUC", 8, TEMPLATE, per_writer=6, seed=3)
    templated = set(sparse.labels["char"][sparse.labels["writer"] == t].tolist())
    for e in first:
        chars = [sparse.labels["char"][(sparse.labels["writer"] == e.writer)
                                       & (sparse.images == r).flatten(1).all(1)][0].item() for r in e.refs]
        assert set(chars) <= templated
        assert torch.equal(e.ref_templates, _template_of(sparse, torch.tensor(chars)))
    again = episodes(sparse, "SFUC", 8, TEMPLATE, per_writer=6, seed=3)
    assert all(torch.equal(a.refs, b.refs) and torch.equal(a.ref_templates, b.ref_templates)
               and torch.equal(a.targets, b.targets) for a, b in zip(first, again, strict=True))


def test_adapted_sets_adapt_per_writer_reset_after_each_and_record_time(emb):
    eps = episodes(emb, "SFUC", 2, TEMPLATE, per_writer=4)
    model = Adaptable()
    seen: list[tuple[str, int, int]] = []
    sets = build_sets(emb, eps, model.stylize, adapt=model, adapt_options={"steps": 7, "seconds": 2.0},
                      progress=lambda name, i, n: seen.append((name, i, n)))
    assert torch.equal(sets[METHOD].images, sets["template copy"].images)
    assert torch.equal(sets[ADAPTED].images, sets["nearest reference"].images)
    assert model.adapted is None and model.resets == len(eps)
    assert model.calls == [{"k": 2, "steps": 7, "seconds": 2.0}] * len(eps)
    assert seen == [(s, i, len(eps)) for s in (METHOD, ADAPTED) for i in range(len(eps))]
    assert sets[METHOD].meta["seconds_per_writer"] > 0 and "adaptation" not in sets[METHOD].meta
    assert sets[ADAPTED].meta["seconds_per_writer"] > 0
    assert sets[ADAPTED].meta["adaptation"] == {"steps": 3.0, "seconds": 0.5}
    assert ADAPTED not in build_sets(emb, eps, model.stylize)  # adaptation only when asked for


def test_a_failed_adaptation_never_leaves_adapted_weights_behind(emb):
    eps = episodes(emb, "SFUC", 2, TEMPLATE, per_writer=2)
    model = Adaptable(fail=True)
    with pytest.raises(RuntimeError, match="out of memory"):
        imitate(eps, model.stylize, adapt=model)
    assert model.adapted is None and model.resets == 1
    with pytest.raises(GlyphError, match="method 'fakeimitate' has no run-time adaptation"):
        imitate(eps, Plain().stylize, adapt=Plain())


def _fewshot(monkeypatch, capsys, tmp_path, model, *args: str) -> tuple[int, str, str]:
    """``glyph eval fewshot`` in this process, measuring ``model`` (no trained weights needed)."""
    import glyph.trainer
    from glyph.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(glyph.trainer, "load_run", lambda *a, **k: model)
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "fewshot", "--data", "embedded", "--weights", str(tmp_path / "weights"), *args])
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory, emb):
    """A randomly initialised judge: the command's plumbing, not its numbers."""
    from glyph.eval.judge import JudgeNet, export_judge

    torch.manual_seed(0)
    net = JudgeNet("resnet10t", len(emb.classes["char"]), len(emb.classes["writer"]))
    card = {"arch": "resnet10t", "charset": {"name": "common-1000", "chars": "".join(emb.classes["char"])},
            "styles": emb.classes["writer"]}
    return export_judge(net, card, tmp_path_factory.mktemp("judge"))


def test_fewshot_command_adds_adapted_rows_timing_and_pictures(monkeypatch, capsys, tmp_path, tiny_judge):
    model = Adaptable()
    out = tmp_path / "fs.json"
    code, stdout, err = _fewshot(monkeypatch, capsys, tmp_path, model, "--refs", "2", "--splits", "SFUC",
                                 "--per-writer", "4", "--metrics", "l1,writer_id", "--adapt", "--adapt-seconds",
                                 "5", "--judge", str(tiny_judge), "--json", str(out), "--pictures",
                                 str(tmp_path / "pics"))
    assert code == 0, err
    assert "s/writer" in stdout and "fakeimitate +adapt" in stdout
    record = json.loads(out.read_text())
    rows = record["rows"]
    assert [r["system"] for r in rows] == ["fakeimitate", "fakeimitate +adapt", "template copy", "nearest reference"]
    assert all(r["seconds_per_writer"] > 0 for r in rows[:2]) and all("seconds_per_writer" not in r for r in rows[2:])
    assert rows[1]["adaptation"] == {"steps": 3.0, "seconds": 0.5} and "adaptation" not in rows[0]
    assert rows[0]["l1"] == rows[2]["l1"] and rows[1]["l1"] == rows[3]["l1"] != rows[0]["l1"]
    assert all(0 <= r["writer_id"] <= 1 and r["writer_id_n"] == 5 for r in rows)
    assert record["protocol"]["adapt"] == {"seconds": 5.0}  # what was given; the method's defaults for the rest
    assert model.calls == [{"k": 2, "steps": None, "seconds": 5.0}] * 5 and model.adapted is None
    assert {p.name for p in (tmp_path / "pics").iterdir()} == {"sfuc-2refs.png", "sfuc-2refs-adapt.png"}


def test_fewshot_adapt_needs_a_method_that_adapts(monkeypatch, capsys, tmp_path):
    code, _, err = _fewshot(monkeypatch, capsys, tmp_path, Plain(), "--adapt")
    assert code == 1 and "fakeimitate" in err and "--adapt" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_fewshot_defaults_name_eight_references_and_writer_id(monkeypatch, capsys):
    from glyph.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "fewshot", "--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0 and "1,4,8,16" in text and "writer_id" in text and "--adapt" in text


@pytest.mark.slow  # about 30 s of geometry fits (a minute or two on a shared CPU)
def test_writers_given_habits_and_the_geometry_stage_rows(monkeypatch, capsys, tmp_path, tiny_judge):
    """--habits gives each writer one random geometry (references and true glyphs alike); --geometry adds a row
    whose templates were given the habits measured on the references first. A method that copies its templates
    then leans with the writer: its slant error falls well below the upright row's."""
    import glyph.eval.fewshot as fewshot

    monkeypatch.setattr(fewshot, "HABIT_GLYPHS", 3)  # 6 glyphs a writer: the true glyphs' floor from 3 against 3
    code, stdout, err = _fewshot(monkeypatch, capsys, tmp_path, Plain(), "--refs", "6", "--splits", "SFUC",
                                 "--per-writer", "6", "--metrics", "l1", "--no-baselines", "--habits", "--geometry",
                                 "--judge", str(tiny_judge), "--json", str(tmp_path / "fs.json"))
    assert code == 0, err
    record = json.loads((tmp_path / "fs.json").read_text())
    upright, shaped, truth = record["rows"]
    assert (upright["system"], shaped["system"], truth["system"]) == ("fakeimitate", "fakeimitate +geometry",
                                                                      "true glyphs")
    # The true glyphs' row: the writer's next glyphs against the first ones, the measurement's floor.
    assert truth["l1"] == 0 and 0 < truth["slant_err"] < upright["slant_err"]
    assert record["protocol"]["habits"] and record["protocol"]["geometry"]
    assert "slant err" in stdout and "aspect err" in stdout
    assert upright["slant_err"] > 3 and shaped["slant_err"] < upright["slant_err"] / 2, (upright, shaped)
    assert shaped["l1"] < upright["l1"]
    # The habits measured and given (calibrated through the method), averaged.
    assert {"slant", "aspect", "rotation", "given_slant", "mismatch_before", "mismatch_after"} <= set(
        shaped["adaptation"])


def test_habits_are_the_same_for_a_seed_and_change_references_and_truth_alike(emb):
    from glyph.eval.fewshot import give_habits, truth_of

    eps = episodes(emb, "SFUC", 4, TEMPLATE, per_writer=4)
    a, b = give_habits(emb, eps, seed=1), give_habits(emb, eps, seed=1)
    assert all(torch.equal(x.refs, y.refs) and torch.equal(x.truth, y.truth) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0].refs, eps[0].refs) and torch.equal(a[0].templates, eps[0].templates)
    assert torch.equal(truth_of(emb, eps[0]), emb.images[eps[0].targets])
