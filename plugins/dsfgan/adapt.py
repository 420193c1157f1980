"""Run-time adaptation: fine-tune the generator to one writer from named references.

A reference named after its character (``永.jpg``) is a training pair: the template of 永 should come
out as this writer's 永. The shared model only *guesses* a new writer's hand from the style encoder;
a few hundred small steps on these pairs make it draw that hand (zi2zi-JiT's LoRA fine-tune, made
one flag). What keeps a few pairs from ruining the model:

* only the decoder's residual blocks and the two style vectors move; the content encoder (what
  character it is) and the style encoder stay frozen, so structure still comes from the template;
* every step pulls the moved weights back towards the base ones (a decoupled L2-SP pull), so the
  adapted model stays near what it knew for characters it never saw in the references;
* the pairs are augmented (the same small shift and scale on template and reference), so the decoder
  learns the hand rather than where each reference sits in its box;
* every step also writes two common characters that are not among the references and holds their structure
  (the content encoder's maps) to their templates', so the decoder is less free to break what it was not shown;
* some references are held back and scored every few steps; the latest state that does no worse on
  them than the base model wins, and training stops when it keeps doing worse (with one or two
  references: a fixed, short schedule);
* photographed references can carry lighter, greyer ink than rendered strokes: faded ones are brought
  up to full ink before training (a gain only, so the pen's width is kept).

What is frozen is computed once, not every step: the content maps of each training pair's template under eight
fixed augmentations (a bank, half precision), of the held-back templates and of the other characters with their
structure targets; the style vectors' modulations once per pass (one writer: ``[1, dim]``). With fused Adam and
one call for the L2-SP pull, a step on 8 references took 0.41 s -> 0.24 s in fp32 on the 2-core development CPU
(docs/benchmarks.md), with the same likeness on the unseen writers at 150 steps (docs/methods/dsfgan.md, which also
measures moving only the denormalisations, and low-rank adapters: both less alike, neither faster enough to pay).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from glyph import GlyphError
from glyph.losses import sobel_magnitude
from glyph.threads import ThreadTuner

from .model import Generator, to_input

if TYPE_CHECKING:
    from glyph import RunContext
    from glyph.geometry import GeometryFit

# Defaults live here, once: the CLI and the evaluation read them.
STEPS = 150  # at most this many steps for up to 8 references
SECONDS = 60.0  # and at most this long (the budget for 8 references on a 2-core CPU)
# More samples get more time: (references, seconds) points beyond 8 references (SECONDS), interpolated on a log
# scale of the count; the step bound grows with the seconds. 8 -> 1 min, 64 -> 2 min, 300 -> 5 min.
BUDGET = ((64, 120.0), (300, 300.0))
MAX_HELD = 32  # references held back at most (each check writes them all)
LR = 5e-4
PULL = 0.01  # per-step pull of moved weights back towards the base: bounds the drift at about LR / PULL
EVAL_EVERY = 10
PATIENCE = 3  # evaluations in a row worse than the base model before stopping
TOLERANCE = 0.02  # "no worse than the base model" on the held-back references, within this share
HOLD_SHARE = 0.25  # share of the references held back to decide when to stop
FIXED_STEPS = 80  # the schedule when nothing can be held back
# Fewest named references `run --adapt` adapts to. From one, v2 came out less like the writer than not adapting on
# both sets of unseen hands given habits (SSIM 0.243 -> 0.202 and 0.271 -> 0.209; 10 or 30 steps instead of 80 broke
# characters: content 71-84 %); from two it gained (writer id 36 -> 61 %, SSIM 0.256 -> 0.307). The card has the rows.
MIN_ADAPT_REFS = 2
BATCH = 16  # pairs per step (more references: a fresh random subset each step)
W_STRUCT = 0.08  # structure kept on characters outside the references (training's 0.8 : 10 L1 = 0.08)
OTHERS_PER_STEP = 2  # such characters written each step (4 before the bank: half the cost, the same likeness)
BANK_VIEWS = 8  # augmentations of each training pair prepared once (the first: the pair as it is)
BANK = 256  # at most this many prepared (pair, view) rows: with more references, fewer views each
STORE = torch.float16  # the bank's structure maps (half the memory; activations of moderate range)
W_EDGE = 2.0  # outline loss weight relative to pixel L1 (the training recipe's 20 : 10)
INK_FLOOR = 8  # uint8 value above which a pixel counts as ink for the calibration
FULL_INK = 250  # a reference whose stroke cores reach this is left as it is


@dataclass
class AdaptedWriter:
    """The outcome of adapting: the moved decoder tensors, the two style vectors, and how it went."""

    decoder: dict[str, torch.Tensor]
    glob: torch.Tensor  # [1, dim]
    detail: torch.Tensor  # [1, dim]
    report: dict[str, float] = field(default_factory=dict)
    chars: str = ""  # the references' characters, in order
    geometry: GeometryFit | None = None  # the hand's measured habits, given to every template it writes


def budget(references: int) -> tuple[int, float]:
    """The adaptation's (steps, seconds) for this many training references: ``BUDGET`` interpolated on a log
    scale of the count (8 or fewer: ``STEPS`` in ``SECONDS``; beyond the last point: its budget)."""
    import itertools
    import math

    points = ((8, SECONDS), *BUDGET)  # SECONDS read now: a caller (or a test) may have changed it
    if references <= points[0][0]:
        seconds = points[0][1]
    elif references >= points[-1][0]:
        seconds = points[-1][1]
    else:
        for (n0, s0), (n1, s1) in itertools.pairwise(points):
            if n0 <= references <= n1:
                share = (math.log(references) - math.log(n0)) / (math.log(n1) - math.log(n0))
                seconds = s0 + share * (s1 - s0)
                break
    return round(STEPS * seconds / SECONDS), seconds


def calibrate_ink(refs: torch.Tensor) -> torch.Tensor:
    """Bring faded references' stroke cores up to full ink, keeping their width.

    A photo's strokes often peak well below full ink (pencil, a light pen, a grey scan), while rendered
    training glyphs always reach it; learning from faded targets makes the adapted model draw faded,
    broken strokes. Each reference is scaled so that its darkest tenth of ink pixels reaches full ink;
    one already there (every rendered glyph, most pen photos) is left exactly as it is. Only a gain:
    the soft edge scales with the core, so strokes get no wider.

    :param refs: uint8 ``[K, 1, H, W]``, 255 = ink.
    :returns: uint8 like ``refs``.
    """
    out = refs.clone()
    for i, img in enumerate(refs):
        ink = img[img > INK_FLOOR].float()
        if ink.numel() < 16:
            continue
        core = float(torch.quantile(ink, 0.9))
        if core < FULL_INK:
            out[i] = (img.float() * (255.0 / core)).round().clamp(0, 255).to(torch.uint8)
    return out


def other_templates(exclude: str = "", n: int = 32) -> torch.Tensor:
    """Templates of ``n`` common characters not in ``exclude`` (uint8 ``[n, 1, 64, 64]``): what adaptation keeps
    intact besides the references (the most frequent characters: what people write most)."""
    import numpy as np

    from glyph.data.charsets import load_charset
    from glyph.data.templates import template_glyphs

    chars = [c for c in load_charset("common-500").chars if c not in set(exclude)][:n]
    found = template_glyphs(chars).glyphs
    return torch.from_numpy(np.stack([found[c] for c in chars if c in found])).unsqueeze(1)


def _augment_theta(n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` random affine maps: the same small shift (about 2 px) and scale (+-8 %) for a template and its target."""
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.08
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.06
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    return theta


def _warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] moved by ``theta``, in ink space [0, 1] so that the borders stay paper."""
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images.add(1).div(2), grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False).mul(2).sub(1)


def _loss(fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (fake - target).abs().mean() + W_EDGE * (sobel_magnitude(fake) - sobel_magnitude(target)).abs().mean()


def _structure_gap(g: Generator, fake: torch.Tensor, template_structure: list[torch.Tensor]) -> torch.Tensor:
    """The training recipe's structure consistency: the content encoder's maps of the output against the
    template's. A glyph that breaks apart or grows strokes moves them; a change of hand moves them little."""
    return sum(0.5 * (a.float() - b.float()).pow(2).mean()
               for a, b in zip(g.content(fake), template_structure, strict=True))


@dataclass
class _Bank:
    """Training pairs prepared once: each pair under a few fixed augmentations, with the content encoder's maps
    of every augmented template (frozen, so computing them every step would repeat the same work)."""

    structure: list[torch.Tensor]  # per level [V * P, C, h, w]: view v of pair p at row v * P + p
    targets: torch.Tensor  # [V * P, 1, 64, 64]
    pairs: int
    views: int

    def rows(self, pick: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Rows of the pairs ``pick``, each under one of its views drawn at random."""
        view = torch.randint(self.views, (len(pick),), generator=gen)
        return (view * self.pairs + pick).to(self.targets.device)


def _bank(g: Generator, templates: torch.Tensor, refs: torch.Tensor, gen: torch.Generator, autocast: Any) -> _Bank:
    """The training pairs under ``BANK_VIEWS`` augmentations (the first the pair as it is), at most ``BANK`` rows;
    structure maps kept in half precision (a bank of 8 references' views takes about 24 MB)."""
    pairs = len(templates)
    views = max(1, min(BANK_VIEWS, BANK // max(1, pairs)))
    theta = _augment_theta(views * pairs, gen)
    theta[:pairs] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    t = _warp(templates.repeat(views, 1, 1, 1), theta)
    targets = _warp(refs.repeat(views, 1, 1, 1), theta)
    levels: list[list[torch.Tensor]] = []
    with torch.no_grad(), autocast():
        for i in range(0, len(t), 32):
            levels.append([m.to(STORE) for m in g.content(t[i:i + 32])])
    structure = [torch.cat(parts) for parts in zip(*levels, strict=True)]
    return _Bank(structure, targets, pairs, views)


def adapt_generator(g: Generator, refs: torch.Tensor, templates: torch.Tensor, *, steps: int = STEPS,
                    seconds: float = SECONDS, seed: int = 0, precision: str = "fp32",
                    others: torch.Tensor | None = None,
                    progress: Callable[[int, int], None] | None = None) -> AdaptedWriter:
    """Fine-tune a copy of ``g``'s decoder on (template, reference) pairs; ``g`` itself is left as it was.

    :param refs: the writer's references, floats ``[K, 1, 64, 64]`` in [-1, 1] (ink = +1), ink calibrated.
    :param templates: the template glyph of each reference's character, same shape and range.
    :param steps: at most this many optimisation steps.
    :param seconds: stop after this much wall time (checked every step).
    :param precision: ``bf16`` runs the forward passes under bfloat16 autocast (twice as fast on a CPU with
        native bf16; the weights and the optimiser stay fp32), ``fp32`` or ``fp16`` (CUDA) as named.
    :param others: templates of characters that are *not* among the references (floats like ``templates``):
        every step some of them are written too and must keep their structure (``W_STRUCT``), which is what
        stops a few pairs from teaching the decoder to break the characters it was not shown.
    :param progress: called as ``progress(step, steps)`` after every step.
    :returns: the adapted decoder tensors and style vectors, with a report (steps, seconds, held-back
        loss before and after, references used for training and for stopping).
    """
    start = time.perf_counter()
    dev = refs.device
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    def autocast() -> Any:
        return torch.autocast(dev.type, dtype=half or torch.float32, enabled=half is not None)

    gen = torch.Generator().manual_seed(seed)
    k = refs.shape[0]
    n_hold = min(int(k * HOLD_SHARE), MAX_HELD) if k >= 3 else 0  # 8 refs: 2 held back; 4: 1; 1-2: none
    order = torch.randperm(k, generator=gen)
    hold, fit = order[:n_hold], order[n_hold:]
    if not n_hold:
        steps = min(steps, FIXED_STEPS)
    was_training = g.training
    g.eval()  # batch norm on its running statistics: a handful of pairs must not redefine them
    decoder = g.decoder
    params = dict(decoder.named_parameters())
    moving_names = [n for n in params if n.startswith("blocks.")]
    moving = [params[n] for n in moving_names]
    base = [p.detach().clone() for p in moving]
    tune: ThreadTuner | None = None
    try:
        for n, p in params.items():
            p.requires_grad_(n in moving_names)
        with torch.no_grad():
            glob0, detail0, _ = g.encode_style(refs.unsqueeze(0))
        glob = torch.nn.Parameter(glob0.clone())
        detail = torch.nn.Parameter(detail0.clone())
        opt = torch.optim.Adam([*moving, glob, detail], lr=LR, betas=(0.9, 0.99), fused=True)
        # Everything frozen is computed once: the content maps of the (augmented) training templates, of the
        # held-back ones and of the other characters, and the others' structure targets.
        bank = _bank(g, templates[fit], refs[fit], gen, autocast)
        with torch.no_grad(), autocast():
            hold_structure = g.content(templates[hold]) if n_hold else None
            use_others = others is not None and len(others) > 0 and W_STRUCT > 0
            other_structure = g.content(others) if use_others else None

        def write(structure: list[torch.Tensor]) -> torch.Tensor:
            # One writer: the style vectors stay [1, dim] and their modulations are computed once per pass.
            return decoder([m.to(half or torch.float32) for m in structure], glob, detail)

        def held_loss() -> float:
            if hold_structure is None:
                return float("nan")
            with torch.no_grad(), autocast():
                fake = write(hold_structure)
                gap = _structure_gap(g, fake, hold_structure) if use_others else 0.0
            return float(_loss(fake.float(), refs[hold]) + W_STRUCT * gap)

        def snapshot() -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
            return [p.detach().clone() for p in moving], glob.detach().clone(), detail.detach().clone()

        first = best = held_loss()
        best_state = snapshot()
        best_step, done, waited = 0, 0, 0
        # Fewer threads while another program keeps a core busy (glyph.threads).
        tune = ThreadTuner(active=dev.type == "cpu").__enter__()
        queue = torch.zeros(0, dtype=torch.long)
        for step in range(1, steps + 1):
            if len(fit) <= BATCH:
                pick = torch.arange(len(fit))
            else:  # every pair once before any twice: all of many references are learned from evenly
                if len(queue) < BATCH:
                    queue = torch.cat([queue, torch.randperm(len(fit), generator=gen)])
                pick, queue = queue[:BATCH], queue[BATCH:]
            rows = bank.rows(pick, gen)
            with autocast():
                fake = write([m[rows] for m in bank.structure])
            loss = _loss(fake.float(), bank.targets[rows])
            if other_structure is not None:
                pick_o = torch.randperm(len(other_structure[0]), generator=gen)[:OTHERS_PER_STEP]
                with autocast():
                    target = [s[pick_o] for s in other_structure]
                    loss = loss + W_STRUCT * _structure_gap(g, write(target), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # decoupled pull towards the base weights (L2-SP), all tensors in one call
                torch._foreach_lerp_(moving, base, PULL)
            tune.step()
            done = step
            if progress is not None:
                progress(step, steps)
            if n_hold and step % EVAL_EVERY == 0:
                score = held_loss()
                # The latest state no worse on the held-back references than the base model wins: pixel losses
                # on two glyphs cannot see style, so "best" would stop at the first wobble; "not worse" lets the
                # hand come through as long as unseen characters do not suffer.
                if score <= first * (1 + TOLERANCE):
                    best, best_step, waited = score, step, 0
                    best_state = snapshot()
                else:
                    waited += 1
                    if waited >= PATIENCE:
                        break
            if time.perf_counter() - start > seconds:
                break
        if not n_hold:  # nothing held back: the last state is the one
            best_step = done
            best_state = snapshot()
        adapted = dict(zip(moving_names, best_state[0], strict=True))
    finally:
        if tune is not None:
            tune.__exit__()
        # The model itself goes back to the base weights, also when the caller stopped it midway (a cancelled
        # progress step, Ctrl-C, out of memory): the next writer must not inherit half an adaptation.
        with torch.no_grad():
            for p, b in zip(moving, base, strict=True):
                p.copy_(b)
            for p in params.values():
                p.requires_grad_(True)
        g.train(was_training)
    report = {"steps": float(done), "best_step": float(best_step), "seconds": time.perf_counter() - start,
              "threads": float(tune.best if tune is not None else torch.get_num_threads()),
              "train_refs": float(len(fit)), "held_refs": float(n_hold), "held_loss_before": first,
              "held_loss_after": best}
    return AdaptedWriter(adapted, best_state[1], best_state[2], report)


def load_adapted(g: Generator, writer: AdaptedWriter) -> dict[str, torch.Tensor]:
    """Put an adapted writer's decoder tensors into ``g``; returns the base tensors they replaced."""
    params = dict(g.decoder.named_parameters())
    unknown = [n for n in writer.decoder if n not in params or params[n].shape != writer.decoder[n].shape]
    if unknown:
        raise GlyphError(f"the saved writer does not fit this generator ({len(unknown)} tensors differ); adapt again "
                         f"with these weights")
    replaced = {}
    with torch.no_grad():
        for n, v in writer.decoder.items():
            replaced[n] = params[n].detach().clone()
            params[n].copy_(v.to(params[n].dtype))
    return replaced


def restore(g: Generator, replaced: dict[str, Any]) -> None:
    """Undo :func:`load_adapted`."""
    params = dict(g.decoder.named_parameters())
    with torch.no_grad():
        for n, v in replaced.items():
            params[n].copy_(v)


WRITER_FILE = "writer.safetensors"


def base_id(g: Generator) -> str:
    """A short fingerprint of the base generator a writer was adapted from (a saved writer fits only it)."""
    import hashlib

    h = hashlib.sha256()
    for name in ("start.weight", "out.2.weight"):
        h.update(dict(g.decoder.named_parameters())[name].detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def save_writer(writer: AdaptedWriter, folder: Path, base: str) -> Path:
    """Write an adapted writer as one safetensors file (fp16 decoder tensors, fp32 style vectors), atomically."""
    import json

    from glyph.checkpoint import save_weights

    state = {f"decoder.{n}": v.detach().half() for n, v in writer.decoder.items()}
    state["style.glob"], state["style.detail"] = writer.glob.detach().float(), writer.detail.detach().float()
    path = Path(folder) / WRITER_FILE
    meta = {"method": "dsfgan", "base": base, "chars": writer.chars, "report": json.dumps(writer.report)}
    if writer.geometry is not None:
        meta["geometry"] = json.dumps(writer.geometry.as_dict())
    save_weights(path, state, meta)
    return path


def load_writer(folder: Path, base: str) -> AdaptedWriter:
    """Read a writer saved by :func:`save_writer`; refuses one adapted from other base weights."""
    import json

    from safetensors import safe_open

    from glyph.checkpoint import load_weights

    path = Path(folder) / WRITER_FILE
    if not path.is_file():
        raise GlyphError(f"{folder} holds no saved writer ({WRITER_FILE}); make one with glyph run dsfgan --refs "
                         f"FOLDER --adapt --save-writer {folder}")
    state = load_weights(path)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("method") != "dsfgan" or "style.glob" not in state:
        raise GlyphError(f"{path} is not a dsfgan writer file; make one with --adapt --save-writer")
    if meta.get("base") != base:
        raise GlyphError(f"the writer in {folder} was adapted from other dsfgan weights; adapt again with these "
                         f"(--refs FOLDER --adapt --save-writer {folder})")
    decoder = {n.removeprefix("decoder."): v.float() for n, v in state.items() if n.startswith("decoder.")}
    geometry = None
    if "geometry" in meta:
        from glyph.geometry import GeometryFit

        try:
            geometry = GeometryFit(**json.loads(meta["geometry"]))
        except (ValueError, TypeError):
            raise GlyphError(f"{path} holds a damaged geometry record; adapt again (--refs FOLDER --adapt "
                             f"--geometry --save-writer {folder})") from None
    return AdaptedWriter(decoder, state["style.glob"].float(), state["style.detail"].float(),
                         json.loads(meta.get("report", "{}")), meta.get("chars", ""), geometry)


class Adapting:
    """The adaptation half of :class:`~glyph.plugins.dsfgan.method.DSFGAN` (a mixin over its networks): adapt to a
    writer, write with an adapted or saved one, go back to the base weights."""

    nets: dict[str, torch.nn.Module]
    precision: str
    _writer: AdaptedWriter | None
    _replaced: dict[str, torch.Tensor]

    def adapt(self, refs: torch.Tensor, ref_templates: torch.Tensor, *, steps: int | None = None,
              seconds: float | None = None, seed: int = 0, precision: str = "auto",
              progress: Callable[[int, int], None] | None = None, chars: str = "",
              geometry: GeometryFit | None = None) -> dict[str, float]:
        """Fine-tune the generator to one writer on (template, reference) pairs; :meth:`stylize` then draws
        in that writer's hand until :meth:`reset_adaptation`. See ``adapt.py`` for what keeps it safe.

        :param refs: uint8 ``[K, 1, 64, 64]`` (255 = ink), the writer's references.
        :param ref_templates: uint8 ``[K, 1, 64, 64]``, the template glyph of each reference's character.
        :param steps: at most this many steps; ``seconds`` bounds the wall time (defaults: :func:`budget` for the
            number of references: 150 steps in 60 s for 8, more for more).
        :param precision: ``auto`` (bf16 where native, else fp32), ``fp32``, ``bf16`` or ``fp16`` (CUDA).
        :param chars: the references' characters (kept with a saved writer, for the record).
        :param geometry: the writer's measured habits: the templates (of the references and of the characters
            whose structure is kept) are given them first, so the decoder learns the hand beyond its geometry,
            and the adapted writer keeps them.
        :returns: what happened: steps, seconds, held-back loss before and after, references used.
        """
        if refs.shape != ref_templates.shape or refs.shape[0] == 0:
            raise GlyphError(f"adapt needs one template per reference; got {tuple(refs.shape)} references and "
                             f"{tuple(ref_templates.shape)} templates")
        from glyph.device import resolve_precision

        self.reset_adaptation()
        dev = self._device()
        calibrated = calibrate_ink(refs)
        others = other_templates(chars) if W_STRUCT > 0 else None
        if geometry is not None:
            from glyph.geometry import warp

            ref_templates = warp(ref_templates, geometry.geometry(len(ref_templates)), paper=0.0)
            if others is not None:
                others = warp(others, geometry.geometry(len(others)), paper=0.0)
        planned_steps, planned_seconds = budget(len(refs))
        writer = adapt_generator(self.nets["G"], to_input(calibrated).to(dev), to_input(ref_templates).to(dev),
                                 steps=steps or planned_steps, seconds=planned_seconds if seconds is None else seconds,
                                 seed=seed, precision=resolve_precision(precision, dev),
                                 others=None if others is None else to_input(others).to(dev), progress=progress)
        writer.chars, writer.geometry = chars, geometry
        self.use_writer(writer)
        return dict(writer.report)

    def use_writer(self, writer: Any) -> None:
        """Draw with an adapted writer (from :meth:`adapt` or :func:`load_writer`) until reset."""
        self.reset_adaptation()
        self._replaced = load_adapted(self.nets["G"], writer)
        self._writer = writer

    def reset_adaptation(self) -> None:
        """Back to the base weights (a no-op when nothing is adapted)."""
        if getattr(self, "_replaced", None):
            restore(self.nets["G"], self._replaced)
        self._replaced, self._writer = {}, None

    def _adapt_to(self, ctx: RunContext, images: torch.Tensor, chars: list[str], keep: Path | None,
                  geometry: GeometryFit | None = None) -> None:
        """``run --adapt``: fine-tune on the named references (and save the writer in ``keep`` when given)."""
        import numpy as np

        from glyph.data.templates import template_glyphs
        from glyph.geometry import to_template_frame

        found = template_glyphs([c for c in chars if c]).glyphs
        pairs = [i for i, c in enumerate(chars) if c in found]
        if not pairs:
            ctx.note("--adapt needs references named after their character (永.jpg, U+6C38.png, or cut by glyph "
                     "data sheet); none is, so the hand is read from the references without adapting")
            if keep is not None:
                ctx.skip(str(keep), "nothing was adapted, so no writer was saved")
            return
        if len(pairs) < MIN_ADAPT_REFS:
            ctx.note(f"--adapt needs at least {MIN_ADAPT_REFS} references named after their character: adapting to "
                     f"one made the writing less like the writer than not adapting (docs/methods/dsfgan.md), so "
                     f"the hand is read from it without adapting; add a second named photo to adapt")
            if keep is not None:
                ctx.skip(str(keep), "nothing was adapted, so no writer was saved")
            return
        if len(pairs) < len(chars):
            ctx.note(f"--adapt learns from the {len(pairs)} references named after a character; the other "
                     f"{len(chars) - len(pairs)} still shape the style")
        # References are normalised with a wider margin than templates and training glyphs: same frame first.
        refs = to_template_frame(images[pairs])
        templates = torch.from_numpy(np.stack([found[chars[i]] for i in pairs])).unsqueeze(1)
        report = self.adapt(refs, templates, seed=ctx.seed or 0, chars="".join(chars[i] for i in pairs),
                            precision=self.precision, geometry=geometry,
                            progress=lambda done, total: ctx.advance("adapting to the writer", done, total))
        ctx.note(f"adapted to the writer in {report['seconds']:.0f} s ({report['steps']:.0f} steps on "
                 f"{report['train_refs']:.0f} references, {report['held_refs']:.0f} held back to decide when to "
                 f"stop)")
        ctx.report.numbers["adapt_seconds"] = round(report["seconds"], 1)
        if keep is not None:
            path = save_writer(self._writer, Path(keep), base_id(self.nets["G"]))
            ctx.report.written.append(path)
            ctx.note(f"writer saved: write more in this hand with glyph run dsfgan --writer {keep} --text ...")

