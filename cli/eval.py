"""``glyph eval``: compare image sets with the offline judge and the field's metrics; fit the judge."""

from __future__ import annotations

from pathlib import Path

import typer

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
    precision: str = typer.Option("auto", help="the judge's precision: auto (bf16 where the hardware has it "
                                  "natively, else fp32), bf16 or fp32"),
    list_: bool = typer.Option(False, "--list", help="list the metrics and exit"),
) -> None:
    """Compare a generated set with a reference set: FGD, KID, content/style accuracy, SSIM, PSNR, L1, RMSE."""
    import json

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
    bars = console.TaskBars()
    try:
        result = glyph.evaluate(real, fake, metrics=metrics.split(",") if metrics else None, n=n, judge=judge,
                                inception_weights=inception_weights, fid_resize=fid_resize,
                                device=console.STATE.device, precision=precision, seed=console.STATE.seed,
                                progress=bars)
    finally:
        bars.close()
    for name, why in result.skipped.items():
        console.warn(f"{name} skipped: {why}")
    table = Table(title=f"{result.fake} vs {result.real}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.results.items():
        table.add_row(key, f"{value:.6g}")
    console.out.print(table)
    if json_out:
        from glyph.imageio import atomic_output

        with atomic_output(json_out) as tmp:
            tmp.write_text(json.dumps(result.record(), indent=2, ensure_ascii=False))
        info(f"wrote {json_out}")


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
    import dataclasses

    from glyph.checkpoint import RunDir, load_weights
    from glyph.data.charsets import load_charset
    from glyph.data.fonts import parse_font_specs
    from glyph.data.packed import load_packed, save_packed
    from glyph.data.render import RenderSpec, render_dataset
    from glyph.data.sources import open_dataset
    from glyph.device import resolve_device
    from glyph.eval.judge import JudgeConfig, JudgeFit, export_judge
    from glyph.paths import check_output_dir
    from glyph.trainer import TrainConfig, Trainer

    check_output_dir(out, "--out", new=False)  # a file there, or no permission: say so before rendering
    run = RunDir(out)
    cache = out / "data.safetensors"
    if resume and cache.is_file():
        dataset = load_packed(cache)
    elif data:
        dataset = open_dataset(data)
    else:
        with console.err.status("rendering the corpus fonts"):
            dataset, _ = render_dataset(parse_font_specs("corpus"), load_charset(charset), RenderSpec(size=64))
    if not {"char", "writer"} <= set(dataset.labels):
        raise GlyphError("the judge needs data with 'char' and 'writer' labels (e.g. rendered fonts)")
    if dataset.size != (64, 64) or dataset.channels != 1:
        raise GlyphError(f"the judge reads 64 px glyphs with one channel; got {dataset.channels}x{dataset.size}")
    if not resume:
        if run.exists():
            raise GlyphError(f"{out} already holds a fit; add --resume or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        save_packed(dataset, cache)
    cfg = JudgeConfig()
    if resume:
        from glyph.config import apply_overrides

        saved = run.read_config("judge", require=("config",))
        cfg = apply_overrides(JudgeConfig(), saved["config"], f"{run.path / 'config.json'}")
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("steps", steps), ("batch", batch), ("arch", arch))
                                      if v is not None})
    method = JudgeFit(cfg, dataset.classes["char"], dataset.classes["writer"])
    tcfg = TrainConfig(sample_every=0, eval_every=eval_every, ckpt_every=eval_every, log_every=50, keep_last=2)
    from .progress import TrainProgress

    trainer = Trainer(method, dataset, out, tcfg, resolve_device(console.STATE.device), quiet=console.STATE.quiet,
                      data_source=str(cache), display=TrainProgress(console.STATE.quiet))
    reason = trainer.fit(resume=resume)
    if reason != "finished":
        console.error(f"fit {reason} at step {trainer.step_no}; continue with: glyph eval fit-judge --out {out} "
                      f"--resume")
        raise typer.Exit(130)
    scores = method.evaluate(trainer.data)
    best = run.best_checkpoint() or run.latest_checkpoint()
    net = method.nets["net"]
    net.load_state_dict(load_weights(best / "weights" / "net.safetensors"))
    final = method.evaluate(trainer.data)
    import glyph

    card = {
        "name": "glyph judge",
        "glyph_version": glyph.__version__,
        "arch": cfg.arch,
        "input": {"size": 64, "channels": 1, "range": "[-1, 1], +1 = full ink (glyph's 255-ink convention)"},
        "feature_dim": net.dim,
        "charset": {"name": dataset.meta.get("charset", "custom"), "size": len(dataset.classes["char"]),
                    "chars": "".join(dataset.classes["char"])},
        "styles": list(dataset.classes["writer"]),
        "data": {"source": dataset.meta.get("source"), "fonts": dataset.meta.get("fonts", []),
                 "render": dataset.meta.get("render", {}), "glyphs": len(dataset)},
        "training": {**dataclasses.asdict(cfg), "checkpoint": best.name},
        "heldout": {"share_of_face_char_pairs": cfg.holdout, "char_top1": round(final["heldout_char_acc"], 4),
                    "style_top1": round(final["heldout_style_acc"], 4)},
    }
    folder = export_judge(net, card, export or out / "judge")
    info(f"judge written to {folder}: held-out character accuracy {final['heldout_char_acc']:.4f}, style accuracy "
         f"{final['heldout_style_acc']:.4f} (last step: {scores['heldout_char_acc']:.4f})")


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
) -> None:
    """Few-shot imitation on held-out characters: a method beside the template-copy and nearest-reference baselines."""
    import json

    from rich.table import Table

    from glyph.data.merge import writer_sources
    from glyph.data.sources import open_dataset
    from glyph.eval.fewshot import ADAPTED, BASELINES, METHOD, build_sets, check_adaptable, episodes, picture
    from glyph.eval.metrics import EvalContext
    from glyph.eval.metrics import evaluate as run_metrics

    counts = _int_list(refs, "--refs")
    if adapt_seconds is not None and adapt_seconds <= 0:
        raise GlyphError(f"--adapt-seconds must be positive, got {adapt_seconds}")
    if adapt_steps is not None and adapt_steps < 1:
        raise GlyphError(f"--adapt-steps must be at least 1, got {adapt_steps}")
    model, folder, names, device = _measured_model(method, weights, "stylize(refs, templates)", "few-shot", metrics,
                                                   per_writer)
    if adapt:
        check_adaptable(model)  # before any data is read: the mistake is in the command line
    # Only what was given: the method's own defaults are its tuned budget.
    options = {k: v for k, v in (("steps", adapt_steps), ("seconds", adapt_seconds)) if v is not None}
    template = template or getattr(model.config, "template", "noto-sans-sc-regular")
    dataset = open_dataset(data)
    ectx = EvalContext(judge_path=judge, device=device)
    rows: list[dict] = []
    table = Table(title=f"few-shot imitation: {folder} on {data}", title_justify="left")
    for col in ("split", "refs", "system", *names, "s/writer"):
        table.add_column(col, justify="right" if col not in ("split", "system") else "left", no_wrap=True)
    labels = {METHOD: model.name, ADAPTED: f"{model.name} +adapt"}
    source_of = writer_sources(dataset)
    for split in [s.strip().upper() for s in splits.split(",") if s.strip()]:
        for k in counts:
            every = episodes(dataset, split, k, template, per_writer, seed=console.STATE.seed or 0)
            # A merged dataset (real faces and synthetic writers) is reported per source: they are different tasks.
            groups: dict[str, list] = {}
            for e in every:
                groups.setdefault(source_of.get(dataset.classes["writer"][e.writer], ""), []).append(e)
            for source, eps in sorted(groups.items()) if len(groups) > 1 else [("", every)]:
                name = f"{split} {source}".strip()
                glyphs = sum(len(e.targets) for e in eps)
                with console.err.status(f"{name}, {k} reference(s): generating {glyphs} glyphs for {len(eps)} "
                                        f"writers") as status:
                    def progress(system: str, i: int, n: int, name: str = name, k: int = k, status=status) -> None:
                        status.update(f"{name}, {k} reference(s): {labels[system]}, writer {i + 1} of {n}")

                    sets = build_sets(dataset, eps, model.stylize, adapt=model if adapt else None,
                                      adapt_options=options, progress=progress)
                    if pictures is not None:
                        from glyph.imageio import write_image

                        stem = f"{name.lower().replace(' ', '-')}-{k}refs"
                        write_image(pictures / f"{stem}.png", picture(eps, sets))
                        if adapt:
                            write_image(pictures / f"{stem}-adapt.png", picture(eps, sets, system=ADAPTED))
                    systems = [METHOD, *((ADAPTED,) if adapt else ()), *(BASELINES if baselines else ())]
                    for system in systems:
                        status.update(f"{name}, {k} reference(s): measuring {labels.get(system, system)}")
                        results, skipped = run_metrics(sets["real"], sets[system], names, ectx)
                        label = labels.get(system, system)
                        timing = {key: sets[system].meta[key] for key in ("seconds_per_writer", "adaptation")
                                  if key in sets[system].meta}
                        rows.append({"split": split, "source": source or None, "refs": k, "system": label,
                                     "writers": len(eps), "glyphs": len(sets[system]), **results, **timing,
                                     "skipped": skipped})
                        seconds = timing.get("seconds_per_writer")
                        table.add_row(name, str(k), label, *(f"{results[m]:.4f}" if m in results else "-"
                                                             for m in names),
                                      "-" if seconds is None else f"{seconds:.2f}")
    console.out.print(table)
    if json_out:
        from glyph.imageio import atomic_output

        record = {"rows": rows, "protocol": {"data": data, "fingerprint": dataset.fingerprint(), "weights": str(folder),
                                             "template": template, "per_writer": per_writer,
                                             "seed": console.STATE.seed or 0, "judge": ectx.judge.hash,
                                             "adapt": options if adapt else None}}
        with atomic_output(json_out) as tmp:
            tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False))
        info(f"wrote {json_out}")


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
) -> None:
    """Restoration of held-out glyphs under seeded damage: damaged input, template copy, restored, clean."""
    import json

    from rich.table import Table

    from glyph.data.sources import open_dataset
    from glyph.eval.metrics import EvalContext
    from glyph.eval.metrics import evaluate as run_metrics
    from glyph.eval.restore import picture, restoration_sets
    from glyph.loader import get_registry

    if k < 1 or strength < 0:
        raise GlyphError("--k needs at least one wear operation and --strength must not be negative")
    model, folder, names, device = _measured_model(method, weights, "restore_batch(damaged, template)", "restoration",
                                                   metrics, per_writer)
    uses_template = bool(getattr(model.config, "use_template", False))
    template = template or getattr(model.config, "template", "noto-sans-sc-regular")
    dataset = open_dataset(data)
    ectx = EvalContext(judge_path=judge, device=device)
    rows: list[dict] = []
    table = Table(title=f"restoration: {folder} on {data}", title_justify="left")
    for col in ("split", "system", *names):
        table.add_column(col, justify="left" if col in ("split", "system") else "right", no_wrap=True)
    labels = {"restored": model.name if uses_template else f"{model.name} (no template)",
              "restored blind": f"{model.name} without template"}
    for split in [s.strip().upper() for s in splits.split(",") if s.strip()]:
        with console.err.status(f"{split}: damaging and restoring held-out glyphs"):
            sets = restoration_sets(dataset, split, template, model.restore_batch, per_writer=per_writer,
                                    seed=console.STATE.seed or 0, damage_seed=damage_seed, k=k, strength=strength,
                                    blind=uses_template)
            if pictures is not None:
                from glyph.imageio import write_image

                write_image(pictures / f"restore-{split.lower()}.png", picture(sets))
            for system, fake in sets.items():
                # The clean glyphs against themselves: only what the judge reads is informative.
                wanted = [m for m in names if system != "clean" or get_registry().metric(m).obj.needs != "pairs"]
                results, skipped = run_metrics(sets["clean"], fake, wanted, ectx)
                label = labels.get(system, system)
                rows.append({"split": split, "system": label, "glyphs": len(fake), **results, "skipped": skipped})
                table.add_row(split, label, *(f"{results[m]:.4f}" if m in results else "-" for m in names))
    console.out.print(table)
    if json_out:
        from glyph.imageio import atomic_output

        record = {"rows": rows, "protocol": {"data": data, "fingerprint": dataset.fingerprint(), "weights": str(folder),
                                             "template": template, "per_writer": per_writer,
                                             "seed": console.STATE.seed or 0, "damage_seed": damage_seed, "k": k,
                                             "strength": strength, "judge": ectx.judge.hash}}
        with atomic_output(json_out) as tmp:
            tmp.write_text(json.dumps(record, indent=2, ensure_ascii=False))
        info(f"wrote {json_out}")


def _measured_model(method: str, weights: Path | None, verb: str, what: str, metrics: str,
                    per_writer: int) -> tuple:
    """(model, weights folder, metric names, device) for a protocol command; ``verb`` is the function it needs."""
    from glyph.device import resolve_device
    from glyph.loader import get_registry
    from glyph.trainer import load_run

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    for m in names:
        get_registry().metric(m)
    if per_writer < 1:
        raise GlyphError(f"--per-writer must be at least 1, got {per_writer}")
    device = resolve_device(console.STATE.device)
    folder = weights or get_registry().method(method).obj.shipped_weights()
    if folder is None:
        raise GlyphError(f"method '{method}' ships no weights; give --weights RUN_FOLDER")
    model = load_run(folder, None if weights else method, device=device)
    if not hasattr(model, verb.split("(")[0]):
        raise GlyphError(f"method '{model.name}' is not a {what} method (it has no {verb})")
    return model, folder, names, device


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
