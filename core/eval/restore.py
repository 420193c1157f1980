"""The restoration protocol: damage held-out glyphs with a fixed seed, restore them, compare with the clean ones.

The glyphs are the held-out rows of a writers dataset (``UFUC``: writers *and* characters never seen in
training; ``SFUC``: seen writers, unseen characters), at most ``per_writer`` per writer, the same ones
:func:`glyph.eval.fewshot.episodes` picks. Each is damaged by the data layer's seeded wear pipeline
(:func:`glyph.data.damage.damage_images`), so every method and every run sees the same damage. The systems
measured against the clean glyphs:

- ``damaged``: the input itself, the floor a restorer must beat;
- ``template copy``: the standard-font glyph of the character (right character, wrong hand);
- the method with the template channel, and (when it has one to drop) without it;
- ``clean``: the ground truth, which tells how well the judge reads the writers at all.

Any method with ``restore_batch(damaged, template=None)`` (floats ``[N, 1, H, W]`` with 1 = ink in and out) can be
measured; ``glyph eval restore`` runs it and prints one table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..dataset import GlyphData
from ..errors import GlyphError
from .fewshot import episodes
from .protocols import ProtocolResult

DAMAGED, TEMPLATE, CLEAN = "damaged", "template copy", "clean"


def restoration_sets(data: GlyphData, split: str, template: str, restore: Any, *, per_writer: int = 100,
                     seed: int = 0, damage_seed: int = 0, k: int = 3, strength: float = 1.0,
                     blind: bool = True) -> dict[str, GlyphData]:
    """Clean targets, their damaged versions, the template copy and the restorations, as labelled sets.

    :param restore: ``restore_batch(damaged, template)`` of a restoration method.
    :param blind: also restore without the template channel (set ``"<system> without template"``).
    :returns: sets named ``clean``, ``damaged``, ``template copy``, ``restored`` and maybe ``restored blind``.
    """
    from ..data.damage import Damage, damage_images

    eps = episodes(data, split, 0, template, per_writer, seed=seed)
    rows = torch.cat([e.targets for e in eps])
    clean = data.images[rows].cpu()
    damaged = damage_images(clean, seed=damage_seed, config=Damage(k=k, strength=strength))
    templates = torch.cat([e.templates for e in eps])
    labels = {"char": data.labels["char"].cpu()[rows], "writer": data.labels["writer"].cpu()[rows]}
    meta = {"ink": data.meta.get("ink", "glyph")}

    def as_set(images: torch.Tensor) -> GlyphData:
        if images.dtype != torch.uint8:
            images = (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        return GlyphData(images, dict(labels), data.classes, dict(meta))

    sets = {CLEAN: as_set(clean), DAMAGED: as_set(damaged), TEMPLATE: as_set(templates),
            "restored": as_set(restore(damaged.float() / 255, templates.float() / 255))}
    if blind:
        sets["restored blind"] = as_set(restore(damaged.float() / 255, None))
    return sets


def picture(sets: dict[str, GlyphData], n: int = 12, writers: int = 4) -> Any:
    """A sheet for the eye: per writer, rows damaged | restored | clean of its first ``n`` glyphs (dark on white)."""
    import numpy as np

    from ..grid import tile

    w = sets[CLEAN].labels["writer"]
    rows: list[np.ndarray] = []
    for writer in list(dict.fromkeys(w.tolist()))[:writers]:
        idx = torch.nonzero(w == writer).flatten()[:n]
        for name in (DAMAGED, "restored", CLEAN):
            block = sets[name].images[idx].numpy()[:, 0].astype(np.float32) / 255
            pad = n - len(block)
            rows.append(np.concatenate([block, np.zeros((pad, *block.shape[1:]), np.float32)]) if pad else block)
    return 1.0 - tile(np.concatenate(rows), cols=n)


TRUST = ("ink_kept", "ink_invented", "changed_char", "flagged_changed", "flag_rate")


def clean_readings(sets: dict[str, GlyphData], judge: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """What the judge reads each clean glyph as (a class index), and whether that is its own character: the
    reference a restoration is judged against for "changed character"."""
    from .trust import judge_read

    names = sets[CLEAN].classes["char"]
    index = {c: i for i, c in enumerate(judge.chars)}
    truth = torch.tensor([index.get(names[int(c)], -1) for c in sets[CLEAN].labels["char"]])
    read, _ = judge_read(judge, sets[CLEAN].images.float() / 255)
    return read, read == truth


def trust_numbers(sets: dict[str, GlyphData], system: str, judge: Any, uncertainty: torch.Tensor | None = None,
                  kind: str = "tta") -> dict[str, float | None]:
    """Evidence numbers of one system's outputs against the clean glyphs (see :mod:`glyph.eval.trust`).

    ``ink_kept``: share of the clean ink that survived the damage and the output keeps; ``ink_invented``: share of
    the output's ink away from any clean ink; ``changed_char``: among glyphs the judge reads right when clean, the
    share whose output it reads as another character. For restorations (``uncertainty`` given or not) also
    ``flag_rate``, the share :func:`glyph.eval.trust.assess` flags, and ``flagged_changed``, the share of the
    changed characters it flags. None where there is nothing to count (no ink, no changed character).
    """
    from .trust import assess, ink_invented, ink_kept, judge_read

    def floats(name: str) -> torch.Tensor:
        return sets[name].images.float() / 255

    clean, damaged, out = floats(CLEAN), floats(DAMAGED), floats(system)
    results = {"ink_kept": float(ink_kept(clean, damaged, out).nanmean()),
               "ink_invented": float(ink_invented(clean, out).nanmean())}
    names = sets[CLEAN].classes["char"]
    read_clean, right = clean_readings(sets, judge)
    read_out, _ = judge_read(judge, out)
    changed = right & (read_out != read_clean)
    results["changed_char"] = float(changed.sum() / right.sum().clamp(min=1))
    if system.startswith("restored"):
        given = [names[int(c)] for c in sets[CLEAN].labels["char"]] if system == "restored" else [""] * len(out)
        flags = torch.tensor([t.flagged for t in assess(damaged, out, given, judge=judge, uncertainty=uncertainty,
                                                        kind=kind)])
        results["flag_rate"] = float(flags.float().mean())
        results["flagged_changed"] = float((flags & changed).sum() / changed.sum()) if changed.any() \
            else float("nan")
    return {k: None if v != v else v for k, v in results.items()}  # NaN (nothing to count) is not JSON


def run_restore(data: str | Path, *, method: str = "restorecae", weights: str | Path | None = None,
                splits: str | Sequence[str] = ("UFUC",), per_writer: int = 100, damage_seed: int = 0, k: int = 3,
                strength: float = 1.0, metrics: str | Sequence[str] = ("psnr", "ssim", "l1", "content_acc"),
                template: str | None = None, pictures: str | Path | None = None, judge: str | Path | None = None,
                uncertainty: str = "auto", device: str = "auto", seed: int | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> ProtocolResult:
    """Measure restoration of held-out glyphs under seeded damage; ``glyph eval restore`` is this call.

    :param data: a writers dataset with unseen splits (e.g. the rendered corpus).
    :param method: the method whose shipped weights to measure (ignored with ``weights``).
    :param splits: ``UFUC`` (unseen writers and characters) and/or ``SFUC``.
    :param damage_seed: the damage's seed, the same for every system and run.
    :param k: distinct wear operations per glyph; ``strength``: severity (0 none, 1 default, 2 heavy).
    :param pictures: folder for one sheet per split: damaged | restored | clean.
    :param uncertainty: the restorer's uncertainty for the flags and the calibration numbers: ``auto``, ``mc``,
        ``tta`` (methods with ``uncertainty_batch``) or ``none``.
    :param progress: called with (task, done, total) per split and system.
    :raises GlyphError: a bad option, a method that cannot restore, a dataset without the split.
    """
    from ..data.sources import open_dataset
    from ..device import resolve_device, validate_device_spec
    from ..loader import get_registry
    from .metrics import EvalContext
    from .metrics import evaluate as run_metrics
    from .protocols import check_per_writer, load_measured, metric_names, number, split_names

    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or not strength >= 0:
        raise GlyphError("--k needs at least one wear operation and --strength must not be negative")
    names = metric_names(metrics)
    check_per_writer(per_writer)
    wanted = split_names(splits)
    dev = resolve_device(validate_device_spec(device))
    model, folder = load_measured(method, weights, "restore_batch(damaged, template)", "restoration", dev)
    uses_template = bool(getattr(model.config, "use_template", False))
    template = template or getattr(model.config, "template", "noto-sans-sc-regular")
    dataset = open_dataset(data)
    ectx = EvalContext(judge_path=judge, device=dev)
    seed = seed or 0
    has_maps = uncertainty != "none" and hasattr(model, "uncertainty_batch")
    kind = model.uncertainty_kind(uncertainty) if has_maps else "none"
    result = ProtocolResult(f"restoration: {folder} on {data}", ["split", "system", *names, *TRUST], labels=2)
    labels = {"restored": model.name if uses_template else f"{model.name} (no template)",
              "restored blind": f"{model.name} without template"}
    for split in wanted:
        if progress is not None:
            progress(f"{split}: damaging and restoring", 0, 1)
        sets = restoration_sets(dataset, split, template, model.restore_batch, per_writer=per_writer, seed=seed,
                                damage_seed=damage_seed, k=k, strength=strength, blind=uses_template)
        if pictures is not None:
            from ..imageio import write_image

            target = Path(pictures) / f"restore-{split.lower()}.png"
            write_image(target, picture(sets))
            result.written.append(target)
        maps: dict[str, torch.Tensor | None] = {"restored": None, "restored blind": None}
        calibrated: dict[str, Any] = {}
        if has_maps:
            from .trust import calibration

            d, t = sets[DAMAGED].images.float() / 255, sets[TEMPLATE].images.float() / 255
            for system in [s for s in maps if s in sets]:
                if progress is not None:
                    progress(f"{split}: uncertainty", 0, 1)
                maps[system] = model.uncertainty_batch(d, t if system == "restored" else None, kind, seed=seed)
                calibrated[system] = calibration(maps[system], sets[system].images.float() / 255,
                                                 sets[CLEAN].images.float() / 255)
        for i, (system, fake) in enumerate(sets.items()):
            if progress is not None:
                progress(f"{split}: measuring", i, len(sets))
            # The clean glyphs against themselves: only what the judge reads is informative.
            wanted_metrics = [m for m in names if system != CLEAN or get_registry().metric(m).obj.needs != "pairs"]
            results, skipped = run_metrics(sets[CLEAN], fake, wanted_metrics, ectx)
            if system != CLEAN:
                results.update(trust_numbers(sets, system, ectx.judge, maps.get(system), kind))
            label = labels.get(system, system)
            row = {"split": split, "system": label, "glyphs": len(fake), **results, "skipped": skipped}
            if system in calibrated:
                row["uncertainty"] = {"kind": kind, **calibrated[system]}
            result.rows.append(row)
            result.cells.append([split, label, *(number(results.get(m)) for m in (*names, *TRUST))])
    result.protocol = {"data": str(data), "fingerprint": dataset.fingerprint(), "weights": str(folder),
                       "template": template, "per_writer": per_writer, "seed": seed, "damage_seed": damage_seed,
                       "k": k, "strength": strength, "judge": ectx.judge.hash, "uncertainty": kind}
    return result
