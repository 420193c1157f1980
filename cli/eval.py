"""``glyph eval``: compare image sets with the offline judge and the field's metrics; fit the judge."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import typer

from glyph.device import PRECISION_HELP
from glyph.errors import GlyphError

from . import console
from .console import info
from .options import bounded

app = typer.Typer(help="Evaluate generated glyphs offline; `glyph eval fit-judge` reproduces the judge.",
                  context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)


@app.callback()
def evaluate(
    ctx: typer.Context,
    real: str = typer.Option(None, help="reference set: folder, packed file, 'embedded'"),
    fake: str = typer.Option(None, help="set to judge: folder, packed file, run:RUN_FOLDER or run:METHOD "
                             "(sampled; METHOD = its shipped weights)"),
    metrics: str = typer.Option(None, help="comma-separated metrics (default: all that apply); see --list"),
    json_out: Path = typer.Option(None, "--json", help="write results and protocol as JSON"),
    n: int = typer.Option(10000, "--n", help="images to sample from a run: source",
                          callback=bounded(1, 100_000)),  # glyph.generate.MAX_SAMPLES: all are held in memory
    judge: Path = typer.Option(None, help="judge folder (default: the judge shipped with glyph)"),
    inception_weights: Path = typer.Option(None, help="pytorch-fid Inception weights file for inception_fid"),
    fid_resize: str = typer.Option("bilinear", help="Inception resize: bilinear (pytorch-fid) or clean (clean-fid)"),
    precision: str = typer.Option("auto", help="the judge's precision: " + PRECISION_HELP),
    list_: bool = typer.Option(False, "--list", help="list the metrics and exit"),
) -> None:
    """Compare a generated set with a reference set: FGD, KID, content/style accuracy, SSIM, PSNR, L1, RMSE."""
    from rich.table import Table

    import glyph
    from glyph.loader import get_registry

    if ctx.invoked_subcommand:
        return
    if list_:
        for name, entry in get_registry().metrics.items():
            console.out.print(f"{name:15s} {entry.obj.needs:7s} {entry.obj.summary}")
        return
    if not real or not fake:
        raise GlyphError("give both --real and --fake (folders, packed files, 'embedded' or run:RUN); "
                         "`glyph eval --list` lists the metrics")
    _check_json(json_out)
    with closing(console.TaskBars()) as bars:
        result = glyph.evaluate(real, fake, metrics=metrics.split(",") if metrics else None, n=n, judge=judge,
                                inception_weights=inception_weights, fid_resize=fid_resize,
                                device=console.STATE.device, precision=precision, seed=console.STATE.seed,
                                progress=bars)
    if not result.results:  # every metric skipped: an empty table would look like a result
        reasons = "; ".join(f"{name}: {why}" for name, why in result.skipped.items()) or "no metric applies"
        raise GlyphError(f"nothing was measured ({reasons})")
    for name, why in result.skipped.items():
        console.warn(f"{name} skipped: {why}")
    table = Table(title=f"{result.fake} vs {result.real}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.results.items():
        table.add_row(key, f"{value:.6g}")
    console.out.print(table)
    if json_out:
        _write_json(json_out, result.record())


@app.command("fit-judge")
def fit_judge(
    out: Path = typer.Option(Path("runs/judge"), "--out", help="run folder of the fit (checkpoints, metrics)"),
    data: str = typer.Option(None, help="training glyphs with char and writer labels (default: render the corpus)"),
    charset: str = typer.Option("gb2312", help="characters the judge reads, when rendering the corpus"),
    steps: int = typer.Option(None, help="optimisation steps (default: JudgeConfig.steps)"),
    batch: int = typer.Option(None, help="images per step"),
    arch: str = typer.Option(None, help="timm architecture"),
    resume: bool = typer.Option(False, "--resume", help="continue the fit in --out"),
    export: Path = typer.Option(None, help="where to write the judge (default: OUT/judge)"),
    eval_every: int = typer.Option(500, help="steps between held-out evaluations (best checkpoint)"),
) -> None:
    """Train the judge on the corpus fonts (only the corpus: other fonts are for held-out evaluation)."""
    from glyph.eval.judge import fit_judge as fit

    from .progress import TrainProgress

    with closing(console.TaskBars()) as bars:
        result = fit(out, data=data, charset=charset, steps=steps, batch=batch, arch=arch, resume=resume,
                     export=export, eval_every=eval_every, device=console.STATE.device,
                     display=TrainProgress(console.STATE.quiet), progress=bars)
    if result.folder is None:
        console.error(f"fit {result.reason} at step {result.step}; continue with: glyph eval fit-judge --out {out} "
                      f"--resume")
        raise typer.Exit(130)
    info(f"judge written to {result.folder}: held-out character accuracy {result.char_acc:.4f}, style accuracy "
         f"{result.style_acc:.4f} (last step: {result.last_char_acc:.4f})")


@app.command("fewshot")
def fewshot(
    data: str = typer.Option(..., "--data", help="writers dataset with unseen splits (e.g. the rendered corpus)"),
    method: str = typer.Option("dsfgan", help="method whose shipped weights to measure (ignored with --weights)"),
    weights: Path = typer.Option(None, help="run folder of the model to measure (default: the shipped weights)"),
    refs: str = typer.Option("1,4,8,16", help="reference counts, comma-separated"),
    splits: str = typer.Option("SFUC,UFUC", help="SFUC (seen writers, unseen characters) and/or UFUC"),
    per_writer: int = typer.Option(100, help="held-out characters per writer"),
    metrics: str = typer.Option("content_acc,style_acc,writer_id,ssim,l1,fgd", help="metrics per row"),
    baselines: bool = typer.Option(True, help="also measure template copy and nearest reference"),
    adapt: bool = typer.Option(False, help="also measure the method adapted to each writer at run time (its "
                               "adapt(refs, ref_templates)), a row 'METHOD +adapt' beside the plain one"),
    adapt_seconds: float = typer.Option(None, help="with --adapt: wall-clock budget of each writer's adaptation "
                                        "(default: the method's)"),
    adapt_steps: int = typer.Option(None, help="with --adapt: most optimisation steps per writer (default: the "
                                    "method's)"),
    template: str = typer.Option(None, help="template writer (default: the method's, else noto-sans-sc-regular)"),
    json_out: Path = typer.Option(None, "--json", help="write every row and the protocol as JSON"),
    pictures: Path = typer.Option(None, help="folder for one sheet per split and count: references | generated | "
                                  "ground truth, a writer per three rows (adapted: a second sheet, '-adapt')"),
    judge: Path = typer.Option(None, help="judge folder (default: the judge shipped with glyph)"),
    geometry: bool = typer.Option(False, help="also measure the method after the geometry stage: each writer's "
                                  "slant, aspect and rotation measured on its references and given to the templates "
                                  "(rows '+geometry')"),
    calibrate: bool = typer.Option(True, help="with --geometry: calibrate the habits through the method's generator "
                                   "(what it writes of the references' characters), as `glyph run dsfgan --geometry` "
                                   "does"),
    habits: bool = typer.Option(False, help="give every writer random handwriting habits first (lean, aspect, turn, "
                                "size, proportions; references and true glyphs alike): hands that lean and stretch"),
) -> None:
    """Few-shot imitation on held-out characters: a method beside the template-copy and nearest-reference baselines."""
    from glyph.eval.fewshot import run_fewshot

    _check_json(json_out)
    counts = _int_list(refs, "--refs")
    with closing(console.TaskBars()) as bars:
        result = run_fewshot(data, method=method, weights=weights, refs=counts, splits=splits, per_writer=per_writer,
                             metrics=metrics, baselines=baselines, adapt=adapt, adapt_seconds=adapt_seconds,
                             adapt_steps=adapt_steps, template=template, pictures=pictures, judge=judge,
                             device=console.STATE.device, seed=console.STATE.seed, progress=bars,
                             geometry=geometry, habits=habits, calibrate=calibrate)
    _print_result(result, json_out)


@app.command("restore")
def restore(
    data: str = typer.Option(..., "--data", help="writers dataset with unseen splits (e.g. the rendered corpus)"),
    method: str = typer.Option("restorecae", help="method whose shipped weights to measure (ignored with --weights)"),
    weights: Path = typer.Option(None, help="run folder of the model to measure (default: the shipped weights)"),
    splits: str = typer.Option("UFUC", help="UFUC (unseen writers and characters) and/or SFUC"),
    per_writer: int = typer.Option(100, help="held-out characters per writer"),
    damage_seed: int = typer.Option(0, help="seed of the damage (the same for every system and run)"),
    k: int = typer.Option(3, help="distinct wear operations per glyph"),
    strength: float = typer.Option(1.0, help="damage severity (0: none, 1: default, 2: heavy)"),
    metrics: str = typer.Option("psnr,ssim,l1,content_acc", help="metrics per row, against the clean glyphs"),
    template: str = typer.Option(None, help="template writer (default: the method's, else noto-sans-sc-regular)"),
    json_out: Path = typer.Option(None, "--json", help="write every row and the protocol as JSON"),
    pictures: Path = typer.Option(None, help="folder for one sheet per split: damaged | restored | clean"),
    judge: Path = typer.Option(None, help="judge folder (default: the judge shipped with glyph)"),
    uncertainty: str = typer.Option("auto", help="the restorer's uncertainty for its flags: auto, mc, tta or none"),
) -> None:
    """Restoration of held-out glyphs under seeded damage: damaged input, template copy, restored, clean; with
    ink kept and invented, changed characters and how many of them the restorer's flags catch."""
    from glyph.eval.restore import run_restore

    _check_json(json_out)

    with closing(console.TaskBars()) as bars:
        result = run_restore(data, method=method, weights=weights, splits=splits, per_writer=per_writer,
                             damage_seed=damage_seed, k=k, strength=strength, metrics=metrics, template=template,
                             pictures=pictures, judge=judge, uncertainty=uncertainty, device=console.STATE.device,
                             seed=console.STATE.seed, progress=bars)
    _print_result(result, json_out)


def _print_result(result: Any, json_out: Path | None) -> None:
    """Print a protocol's table; write its record with ``--json``."""
    from rich.measure import Measurement
    from rich.table import Table

    def table_of(columns: list[int], title: str | None) -> Table:
        table = Table(title=title, title_justify="left")
        for i in columns:
            table.add_column(result.columns[i], justify="left" if i < result.labels else "right", no_wrap=True)
        for cells in result.cells:
            table.add_row(*(cells[i] for i in columns))
        return table

    # As many metric columns per table as fit the width (80 when piped): never a column squeezed to "…".
    labels, metrics = list(range(result.labels)), list(range(result.labels, len(result.columns)))
    width, title = console.out.width, result.title
    while metrics:
        take = len(metrics)
        while take > 1 and Measurement.get(console.out, console.out.options.update(max_width=10_000),
                                           table_of(labels + metrics[:take], title)).maximum > width:
            take -= 1
        console.out.print(table_of(labels + metrics[:take], title))
        metrics, title = metrics[take:], None
    if json_out:
        _write_json(json_out, result.record())


def _check_json(path: Path | None) -> None:
    """``--json`` checked before the work: a folder, or a place that cannot be written, is one line now."""
    if path is not None:
        from glyph.paths import check_output_file

        check_output_file(path, "--json")


def _write_json(path: Path, record: dict) -> None:
    import json

    from glyph.imageio import atomic_output

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    info(f"wrote {path}")


def _int_list(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GlyphError(f"{flag} takes comma-separated whole numbers, e.g. 1,4,16 (got {text!r})") from None
    if not values or min(values) < 1:
        raise GlyphError(f"{flag} needs counts of at least 1 (got {text!r})")
    return values


def install(app_: typer.Typer) -> None:
    """Add ``glyph eval``."""
    app_.add_typer(app, name="eval")
