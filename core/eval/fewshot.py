"""The few-shot imitation protocol: generate held-out characters of each writer from k references.

For every writer of a split (``SFUC``: writers seen in training, characters not; ``UFUC``: neither),
k references are drawn from the writer's *seen* characters (never a target) with a fixed seed, and
each target character is generated from its template glyph. Two baselines go through the same
protocol, so a method's numbers have a floor to beat:

- ``template copy``: output the standard-font template itself (perfect content, no style);
- ``nearest reference``: output the reference most similar (L1) to the template (style, wrong content).

Any method with ``stylize(refs, templates)`` (uint8 ``[K,1,H,W]`` and ``[N,1,H,W]`` in, floats in [0, 1]
out) can be measured; ``glyph eval fewshot`` runs it and prints one table. A method that also offers run-time
adaptation (``adapt(refs, ref_templates, *, steps, seconds)`` fine-tuning it in place for one writer and
``reset_adaptation()`` undoing that) is measured a second time, adapted to each writer before it writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ..dataset import GlyphData
from ..errors import GlyphError
from .protocols import ProtocolResult

BASELINES = ("template copy", "nearest reference")
METHOD, ADAPTED = "method", "method +adapt"
SHAPED, ADAPTED_SHAPED = "method +geometry", "method +adapt +geometry"
TRUTH = "true glyphs"
HABIT_GLYPHS = 16  # glyphs per writer whose geometry is fitted to score an output's slant and aspect


@dataclass
class Episode:
    """One writer's task: its references (with their templates) and the targets (rows of the dataset) with theirs."""

    writer: int
    refs: torch.Tensor  # uint8 [K, 1, H, W]
    targets: torch.Tensor  # rows
    templates: torch.Tensor  # uint8 [N, 1, H, W]
    ref_templates: torch.Tensor  # uint8 [K, 1, H, W]: the template writer's glyph of each reference's character
    truth: torch.Tensor | None = None  # uint8 [N, 1, H, W] when the targets were changed (given habits)


def episodes(data: GlyphData, split: str, k: int, template: str, per_writer: int = 100,
             seed: int = 0) -> list[Episode]:
    """The deterministic episodes of ``split`` with ``k`` references per writer.

    :param template: the writer whose glyphs are the templates (excluded from the writers measured).
    :param per_writer: at most this many target characters per writer (a fixed random subset).
    """
    from ..data.loader import split_rows

    split = split.upper()
    if split not in ("SFUC", "UFUC"):
        raise GlyphError(f"few-shot splits are SFUC (seen writers) and UFUC (unseen writers), not {split}")
    for col in ("writer", "char"):
        if col not in data.labels:
            raise GlyphError("the few-shot protocol needs a writers dataset (labels writer and char)")
    writers = data.classes["writer"]
    if template not in writers:
        raise GlyphError(f"the dataset has no template writer '{template}'")
    t = writers.index(template)
    w, ch = data.labels["writer"].cpu(), data.labels["char"].cpu()
    template_row = torch.full((len(data.classes["char"]),), -1, dtype=torch.long)
    rows_t = torch.nonzero(w == t).flatten()
    template_row[ch[rows_t]] = rows_t
    targets = split_rows(data, split)
    pool = split_rows(data, split[0] + "FSC")  # the same writers' seen characters: where references come from
    # Only characters the template writer has: run-time adaptation learns from (template, reference) pairs.
    pool = pool[template_row[ch[pool]] >= 0]
    g = torch.Generator().manual_seed(seed)
    out = []
    for writer in sorted(set(w[targets].tolist()) - {t}):
        mine = targets[(w[targets] == writer) & (template_row[ch[targets]] >= 0)]
        own_pool = pool[w[pool] == writer]
        if len(mine) == 0 or len(own_pool) < k:
            continue
        mine = mine[torch.randperm(len(mine), generator=g)[:per_writer]].sort().values
        refs = own_pool[torch.randperm(len(own_pool), generator=g)[:k]]
        out.append(Episode(writer, data.images[refs].cpu(), mine, data.images[template_row[ch[mine]]].cpu(),
                           data.images[template_row[ch[refs]]].cpu()))
    if not out:
        raise GlyphError(f"split {split} has no writer with both held-out characters and {k} references; render the "
                         f"data with --unseen-writers/--unseen-chars")
    return out


def give_habits(data: GlyphData, eps: list[Episode], seed: int = 0) -> list[Episode]:
    """The same writers given handwriting's geometric habits: each writer one random geometry
    (:func:`glyph.geometry.random_geometries`: slant, aspect, rotation, size, position, smooth proportions), applied
    alike to its references and its true glyphs, so an upright face becomes a hand that leans and stretches."""
    from ..geometry import random_geometries, warp

    g = torch.Generator().manual_seed(seed + 7919)
    out = []
    for e in eps:
        habit = random_geometries(1, g)
        truth = data.images[e.targets].cpu()
        out.append(Episode(e.writer, warp(e.refs, habit.repeat_interleave(len(e.refs)), paper=0.0), e.targets,
                           e.templates, e.ref_templates, warp(truth, habit.repeat_interleave(len(truth)), paper=0.0)))
    return out


def truth_of(data: GlyphData, e: Episode) -> torch.Tensor:
    """The writer's true glyphs of the episode's targets (uint8)."""
    return e.truth if e.truth is not None else data.images[e.targets].cpu()


def shaped(e: Episode, write: Callable[[torch.Tensor], torch.Tensor] | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """The geometry stage for one writer: its habits measured on the references against their templates
    (:func:`glyph.geometry.measure`, clamped to handwriting's range; with ``write``, the method's generator from
    templates to glyphs, calibrated through it: :func:`glyph.geometry.calibrate`) and given to every template; with
    fewer than ``MIN_SAMPLES`` references, the templates as they are. Returns the templates, the references'
    templates and the measured habits."""
    from ..geometry import MIN_SAMPLES, calibrate, measure, warp

    if len(e.refs) < MIN_SAMPLES:
        return e.templates, e.ref_templates, {}
    fit = measure(e.ref_templates, e.refs)
    given, report = calibrate(fit, write, e.ref_templates) if write is not None else (fit.within(), {})
    return (warp(e.templates, given.geometry(len(e.templates)), paper=0.0),
            warp(e.ref_templates, given.geometry(len(e.ref_templates)), paper=0.0),
            {"slant": fit.slant, "aspect": fit.aspect, "rotation": fit.rotation, "given_slant": given.slant,
             "flow_kept": float(fit.flow is not None), **report})


def habit_errors(templates: torch.Tensor, generated: torch.Tensor, truth: torch.Tensor | Any) -> tuple[float, float]:
    """How far an output's geometry is from the writer's: the slant (degrees) and aspect (relative) fitted on up to
    ``HABIT_GLYPHS`` generated glyphs against their templates, compared with the same fit on the true glyphs.

    :param truth: the true glyphs, or their fit already made (a ``GeometryFit``: every system of a row set is
        compared with the same truth, which is fitted once).
    """
    from ..geometry import measure

    n = min(HABIT_GLYPHS, len(templates))
    # Slant and aspect only: the proportions' flow (measure's second stage) is not compared here.
    real = measure(templates[:n], truth[:n], flow_grid=0) if isinstance(truth, torch.Tensor) else truth
    out = measure(templates[:n], generated[:n], flow_grid=0)
    return abs(out.slant - real.slant), abs(out.aspect / real.aspect - 1)


def nearest_reference(refs: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """For each template, the reference closest to it in L1 (uint8 in, uint8 out)."""
    d = (templates.float().flatten(1)[:, None] - refs.float().flatten(1)[None]).abs().mean(-1)
    return refs[d.argmin(1)]


def check_adaptable(model: Any) -> None:
    """Raise a :class:`GlyphError` unless ``model`` offers run-time adaptation (``adapt`` and ``reset_adaptation``)."""
    if not all(callable(getattr(model, f, None)) for f in ("adapt", "reset_adaptation")):
        name = getattr(model, "name", type(model).__name__)
        raise GlyphError(f"method '{name}' has no run-time adaptation (no adapt(refs, ref_templates) and "
                         f"reset_adaptation()); measure it without --adapt")


def _as_uint8(images: torch.Tensor) -> torch.Tensor:
    # .cpu() inside the timed region: it waits for an accelerator's queued work, so the clock sees all of it.
    return (images.detach().float().cpu().clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def imitate(eps: list[Episode], generate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *,
            adapt: Any | None = None, adapt_options: dict[str, Any] | None = None,
            progress: Callable[[int, int], None] | None = None,
            geometry: bool = False, calibrate: bool = True) -> tuple[torch.Tensor, list[float], list[dict[str, float]]]:
    """Each episode's glyphs from ``generate(refs, templates)``, with the wall time each writer took.

    :param adapt: a model with ``adapt`` and ``reset_adaptation``: before each writer it is adapted to the writer's
        references (``adapt(refs, ref_templates, **adapt_options)``), and afterwards always reset, so a failure
        never leaves one writer's weights behind for the next (``generate`` is then its ``stylize``).
    :param progress: called as ``progress(i, n)`` before writer ``i`` of ``n``.
    :param geometry: the geometry stage first (:func:`shaped`): the templates (and, adapting, the references'
        templates) given the habits measured on the writer's references; the habits join the reports.
    :param calibrate: the geometry stage calibrates the habits through ``generate`` (before any adaptation).
    :returns: uint8 glyphs in episode order, seconds per writer (adapting and generating), adapt's (or the
        geometry stage's) reports.
    """
    if adapt is not None:
        check_adaptable(adapt)
    images, seconds, reports = [], [], []
    for i, e in enumerate(eps):
        if progress is not None:
            progress(i, len(eps))
        start = time.perf_counter()
        templates, ref_templates, habits = (shaped(e, partial(generate, e.refs) if calibrate else None) if geometry
                                            else (e.templates, e.ref_templates, {}))
        if adapt is None:
            images.append(_as_uint8(generate(e.refs, templates)))
            if geometry:
                reports.append(habits)
        else:
            try:
                reports.append({**adapt.adapt(e.refs, ref_templates, **(adapt_options or {})), **habits})
                images.append(_as_uint8(generate(e.refs, templates)))
            finally:
                adapt.reset_adaptation()
        seconds.append(time.perf_counter() - start)
    return torch.cat(images), seconds, reports


def _mean_report(reports: list[dict[str, float]]) -> dict[str, float]:
    # The numbers every writer's report has (steps, seconds, final loss...), averaged; anything else is dropped.
    keys = [k for k in reports[0] if all(isinstance(r.get(k), int | float) for r in reports)] if reports else []
    return {k: sum(float(r[k]) for r in reports) / len(reports) for k in keys}


def build_sets(data: GlyphData, eps: list[Episode], generate: Any | None, *, adapt: Any | None = None,
               adapt_options: dict[str, Any] | None = None,
               progress: Callable[[str, int, int], None] | None = None,
               geometry: bool = False, calibrate: bool = True) -> dict[str, GlyphData]:
    """Real targets, the baselines' outputs and (when ``generate`` is given) the method's, as labelled sets.

    The method's set is ``"method"``; with ``adapt`` (a model with ``stylize``, ``adapt`` and ``reset_adaptation``)
    the model is measured again, adapted to each writer before its ``stylize`` (see :func:`imitate`), as
    ``"method +adapt"``. A method's set records in its ``meta`` the mean wall time per writer
    (``seconds_per_writer``) and, adapted, the mean of adapt's reports (``adaptation``). With ``geometry`` each is
    measured once more after the geometry stage (:func:`shaped`): ``"method +geometry"`` and
    ``"method +adapt +geometry"``.

    :param progress: called as ``progress(set_name, i, n)`` before writer ``i`` of ``n``.
    """
    rows = torch.cat([e.targets for e in eps])
    labels = {"char": data.labels["char"].cpu()[rows], "writer": data.labels["writer"].cpu()[rows]}
    meta = {"ink": data.meta.get("ink", "glyph")}

    def as_set(images: torch.Tensor, **extra: Any) -> GlyphData:
        return GlyphData(images, dict(labels), data.classes, {**meta, **extra})

    sets = {"real": as_set(torch.cat([truth_of(data, e) for e in eps])),
            TRUTH: as_set(torch.cat([truth_of(data, e) for e in eps])),
            "template copy": as_set(torch.cat([e.templates for e in eps])),
            "nearest reference": as_set(torch.cat([nearest_reference(e.refs, e.templates) for e in eps]))}
    runs = ([(METHOD, generate, None, False)] if generate is not None else []) + (
        [(ADAPTED, adapt.stylize, adapt, False)] if adapt is not None else [])
    if geometry:
        runs += [(SHAPED if a is None else ADAPTED_SHAPED, fn, a, True) for _, fn, a, _ in runs]
    for name, fn, adapter, shape in runs:
        tell = None if progress is None else partial(progress, name)
        images, seconds, reports = imitate(eps, fn, adapt=adapter, adapt_options=adapt_options, progress=tell,
                                           geometry=shape, calibrate=calibrate)
        extra: dict[str, Any] = {"seconds_per_writer": sum(seconds) / len(seconds)}
        if adapter is not None or shape:
            extra["adaptation"] = _mean_report(reports)
        sets[name] = as_set(images, **extra)
    return sets


def picture(eps: list[Episode], sets: dict[str, GlyphData], writers: int = 6, cols: int = 8,
            system: str = METHOD) -> Any:
    """A sheet for the eye: per writer, a row of its references, a row generated (by set ``system``), a row of
    ground truth.

    Display floats (dark on white). Blank cells pad short rows.
    """
    import numpy as np

    from ..grid import tile

    blank = np.zeros((1, *sets["real"].images.shape[2:]), np.float32)
    rows: list[np.ndarray] = []
    start = 0
    for e in eps[:writers]:
        n = len(e.targets)
        for block in (e.refs.numpy()[:cols, 0] / 255,
                      sets[system].images[start:start + n].numpy()[:cols, 0] / 255,
                      sets["real"].images[start:start + n].numpy()[:cols, 0] / 255):
            pad = [blank] * (cols - len(block))
            rows.append(np.concatenate([block.astype(np.float32), *pad]) if pad else block.astype(np.float32))
        start += n
    return 1.0 - tile(np.concatenate(rows), cols=cols)


def run_fewshot(data: str | Path, *, method: str = "dsfgan", weights: str | Path | None = None,
                refs: Sequence[int] = (1, 4, 8, 16), splits: str | Sequence[str] = ("SFUC", "UFUC"),
                per_writer: int = 100,
                metrics: str | Sequence[str] = ("content_acc", "style_acc", "writer_id", "ssim", "l1", "fgd"),
                baselines: bool = True, adapt: bool = False, adapt_seconds: float | None = None,
                adapt_steps: int | None = None, template: str | None = None, pictures: str | Path | None = None,
                judge: str | Path | None = None, device: str = "auto", seed: int | None = None,
                progress: Callable[[str, int, int], None] | None = None, geometry: bool = False,
                habits: bool = False, calibrate: bool = True) -> ProtocolResult:
    """Measure few-shot imitation on held-out characters; ``glyph eval fewshot`` is this call.

    For each split and reference count, the method writes every writer's held-out characters from ``k`` of its
    references; the template-copy and nearest-reference baselines go through the same episodes.

    :param data: a writers dataset with unseen splits (e.g. the rendered corpus): packed file or folder.
    :param method: the method whose shipped weights to measure (ignored with ``weights``).
    :param weights: a run folder of the model to measure.
    :param refs: reference counts.
    :param adapt: also measure the method adapted to each writer at run time (a row ``METHOD +adapt``).
    :param pictures: folder for one sheet per split and count (references | generated | ground truth).
    :param geometry: also measure the method after the geometry stage (rows ``METHOD +geometry``, and
        ``METHOD +adapt +geometry`` with ``adapt``): each writer's habits measured on its references and given to
        the templates first (:func:`shaped`).
    :param calibrate: the geometry stage calibrates the habits through the method's generator
        (:func:`glyph.geometry.calibrate`), as ``glyph run dsfgan --geometry`` does; False gives the measured habits
        as they are.
    :param habits: give every writer random handwriting habits first (:func:`give_habits`: references and true
        glyphs alike), the evaluation set of hands that lean and stretch. With ``geometry`` or ``habits`` the
        rows gain the output's slant and aspect errors against the true glyphs' (:func:`habit_errors`).
    :param progress: called with (task, done, total) per writer.
    :raises GlyphError: a bad option, a method that cannot imitate, a dataset without the split.
    """
    from ..data.merge import writer_sources
    from ..data.sources import open_dataset
    from ..device import resolve_device, validate_device_spec
    from .metrics import EvalContext
    from .metrics import evaluate as run_metrics
    from .protocols import check_per_writer, load_measured, metric_names, number, split_names

    counts = [int(k) for k in refs]
    if not counts or min(counts) < 1:
        raise GlyphError(f"--refs needs counts of at least 1 (got {','.join(map(str, counts)) or 'none'})")
    if adapt_seconds is not None and not adapt_seconds > 0:
        raise GlyphError(f"--adapt-seconds must be positive, got {adapt_seconds}")
    if adapt_steps is not None and adapt_steps < 1:
        raise GlyphError(f"--adapt-steps must be at least 1, got {adapt_steps}")
    names = metric_names(metrics)
    check_per_writer(per_writer)
    wanted = split_names(splits)
    dev = resolve_device(validate_device_spec(device))
    model, folder = load_measured(method, weights, "stylize(refs, templates)", "few-shot", dev)
    if adapt:
        check_adaptable(model)  # before any data is read: the mistake is in the command line
    # Only what was given: the method's own defaults are its tuned budget.
    options = {k: v for k, v in (("steps", adapt_steps), ("seconds", adapt_seconds)) if v is not None}
    template = template or getattr(model.config, "template", "noto-sans-sc-regular")
    dataset = open_dataset(data)
    ectx = EvalContext(judge_path=judge, device=dev)
    seed = seed or 0
    shape_columns = ["slant err", "aspect err"] if geometry or habits else []
    result = ProtocolResult(f"few-shot imitation: {folder} on {data}{' given habits' if habits else ''}",
                            ["split", "refs", "system", *names, *shape_columns, "s/writer"], labels=3)
    labels = {METHOD: model.name, ADAPTED: f"{model.name} +adapt", SHAPED: f"{model.name} +geometry",
              ADAPTED_SHAPED: f"{model.name} +adapt +geometry"}
    source_of = writer_sources(dataset)
    for split in wanted:
        for k in counts:
            every = episodes(dataset, split, k, template, per_writer, seed=seed)
            if habits:
                every = give_habits(dataset, every, seed)
            # A merged dataset (real faces and synthetic writers) is reported per source: they are different tasks.
            groups: dict[str, list[Episode]] = {}
            for e in every:
                groups.setdefault(source_of.get(dataset.classes["writer"][e.writer], ""), []).append(e)
            for source, eps in sorted(groups.items()) if len(groups) > 1 else [("", every)]:
                name = f"{split} {source}".strip()

                def tell(system: str, i: int, n: int, name: str = name, k: int = k) -> None:
                    if progress is not None:
                        progress(f"{name}, {k} reference(s): {labels[system]}", i, n)

                sets = build_sets(dataset, eps, model.stylize, adapt=model if adapt else None, adapt_options=options,
                                  progress=tell, geometry=geometry, calibrate=calibrate)
                mine = [METHOD, *((ADAPTED,) if adapt else ())]
                mine += [SHAPED, *((ADAPTED_SHAPED,) if adapt else ())] if geometry else []
                if pictures is not None:
                    from ..imageio import write_image

                    stem = f"{name.lower().replace(' ', '-')}-{k}refs"
                    for system in mine:
                        suffix = labels[system].removeprefix(model.name).replace(" +", "-")
                        target = Path(pictures) / f"{stem}{suffix}.png"
                        write_image(target, picture(eps, sets, system=system))
                        result.written.append(target)
                # Given habits, the judge reads the true glyphs less well too: their own row is the bar to compare with.
                systems = [*mine, *(BASELINES if baselines else ()), *((TRUTH,) if habits else ())]
                truth_fits: list[Any] = []  # each writer's true geometry, fitted once for all systems
                for i, system in enumerate(systems):
                    if progress is not None:
                        progress(f"{name}, {k} reference(s): measuring", i, len(systems))
                    results, skipped = run_metrics(sets["real"], sets[system], names, ectx)
                    if shape_columns:
                        results.update(_shape_errors(eps, sets, system, truth_fits))
                    label = labels.get(system, system)
                    timing = {key: sets[system].meta[key] for key in ("seconds_per_writer", "adaptation")
                              if key in sets[system].meta}
                    result.rows.append({"split": split, "source": source or None, "refs": k, "system": label,
                                        "writers": len(eps), "glyphs": len(sets[system]), **results, **timing,
                                        "skipped": skipped})
                    seconds = timing.get("seconds_per_writer")
                    shape_cells = ["-" if results["slant_err"] is None else f"{results['slant_err']:.1f}°",
                                   "-" if results["aspect_err"] is None else f"{results['aspect_err']:.1%}"] \
                        if shape_columns else []
                    result.cells.append([name, str(k), label, *(number(results.get(m)) for m in names),
                                         *shape_cells, "-" if seconds is None else f"{seconds:.2f}"])
    result.protocol = {"data": str(data), "fingerprint": dataset.fingerprint(), "weights": str(folder),
                       "template": template, "per_writer": per_writer, "seed": seed, "judge": ectx.judge.hash,
                       "adapt": options if adapt else None, "geometry": geometry, "habits": habits,
                       "calibrate": calibrate if geometry else None}
    return result


def _shape_errors(eps: list[Episode], sets: dict[str, GlyphData], system: str, truth_fits: list[Any]
                  ) -> dict[str, float | None]:
    """Mean over writers of :func:`habit_errors` for one system's set; ``truth_fits`` is filled on the first call
    and reused by the next systems.

    For the true glyphs themselves the errors are those of the writer's *next* ``HABIT_GLYPHS`` glyphs against the
    first ones': how much two sets of one writer's own glyphs disagree, the floor below which a system's error
    says nothing (writers with too few glyphs for a second set are left out of that row)."""
    from ..geometry import measure

    slant, aspect, start = [], [], 0
    for i, e in enumerate(eps):
        n = len(e.targets)
        m = min(HABIT_GLYPHS, n)
        if len(truth_fits) <= i:
            truth_fits.append(measure(e.templates[:m], sets["real"].images[start:start + m], flow_grid=0))
        if system != TRUTH:
            errors = habit_errors(e.templates, sets[system].images[start:start + n], truth_fits[i])
        elif n >= 2 * m:
            errors = habit_errors(e.templates[m:2 * m], sets[system].images[start + m:start + 2 * m], truth_fits[i])
        else:
            errors = None
        if errors is not None:
            slant.append(errors[0])
            aspect.append(errors[1])
        start += n
    if not slant:
        return {"slant_err": None, "aspect_err": None}
    return {"slant_err": sum(slant) / len(slant), "aspect_err": sum(aspect) / len(aspect)}
