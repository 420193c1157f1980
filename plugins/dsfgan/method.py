"""The DSF-GAN recipe: a person's handwriting from a few samples, at native 64 px.

Given references of one writer (any number) and the standard-font template of a character, the
generator draws that character in the writer's hand (seeds-code-report.md §3). Training data is a
writers dataset (the corpus faces as writers, Noto Sans CJK SC Regular as the template writer).

Training has two stages in one run, so a single ``glyph train dsfgan`` resumes anywhere:

1. ``recognizer`` steps fit a small character classifier on the training split. It is the content
   loss's teacher, and deliberately not the evaluation judge (a model graded by its own teacher
   would look better than it is).
2. ``gan`` steps: each batch holds ``groups`` writers with ``per_group`` target characters each;
   every group shares one reference set (two disjoint views of ``k`` references, never showing any
   of the group's target characters). The generator sees the first view; the contrastive loss pulls
   the two views of one writer together. Losses: adversarial (logits), outline (Sobel-edge L1),
   pixel L1 (glyph's addition, which speeds up CPU-scale training), the frozen recogniser's
   cross-entropy, structure consistency, supervised contrastive style.

Fixed from the published code (§3.10): it trains; references are sampled without the target;
no NaN on blank images (the data layer normalises); logits, not probabilities; native 64 px.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from glyph import GlyphError, Method
from glyph.losses import sobel_magnitude

from .adapt import Adapting
from .model import Discriminator, Generator, Recognizer, supcon, to_input
from .writing import DEMO_TEXT, Writing

__all__ = ["DSFGAN", "Config", "to_input"]

@dataclass
class Config:
    """dsfgan settings; the defaults are the CPU preset glyph's shipped weights were trained with."""

    # `refs` is the run option's folder of references; the training counts were also called refs before 0.2.
    renamed_fields: ClassVar[dict[str, str]] = {"refs": "ref_counts"}

    backbone: str = field(default="resnet10t", metadata={"help": "timm style backbone (densenet121 = the paper)"})
    content_widths: tuple[int, ...] = field(default=(16, 32, 64, 128, 256),
                                            metadata={"help": "content U-Net widths at 64, 32, 16, 8, 4 px"})
    decoder_widths: tuple[int, ...] = field(default=(256, 192, 128, 64, 32),
                                            metadata={"help": "decoder widths at 4, 8, 16, 32, 64 px"})
    dim: int = field(default=256, metadata={"help": "style vector and token width"})
    layers: int = field(default=2, metadata={"help": "transformer layers over reference tokens"})
    heads: int = field(default=4, metadata={"help": "attention heads"})
    nce_dim: int = field(default=128, metadata={"help": "contrastive embedding size"})
    global_blocks: int = field(default=2, metadata={"help": "finest decoder blocks fed the global style"})
    d_widths: tuple[int, ...] = field(default=(64, 128, 256, 256), metadata={"help": "discriminator widths"})
    template: str = field(default="noto-sans-sc-regular", metadata={"help": "writer that holds the templates"})
    ref_counts: tuple[int, ...] = field(default=(1, 2, 4, 8), metadata={"help": "references per view, cycled by "
                                                                             "step"})
    groups: int = field(default=8, metadata={"help": "writers per batch"})
    per_group: int = field(default=4, metadata={"help": "target characters per writer in a batch"})
    lr_g: float = field(default=2e-4, metadata={"help": "generator Adam learning rate"})
    lr_d: float = field(default=1e-4, metadata={"help": "discriminator Adam learning rate"})
    betas: tuple[float, ...] = field(default=(0.5, 0.999), metadata={"help": "Adam betas of G and D"})
    w_adv: float = field(default=1.0, metadata={"help": "adversarial loss weight"})
    w_cls: float = field(default=1.0, metadata={"help": "recogniser cross-entropy weight"})
    w_struct: float = field(default=0.8, metadata={"help": "structure consistency weight"})
    w_style: float = field(default=6.5, metadata={"help": "supervised contrastive style weight"})
    w_edge: float = field(default=20.0, metadata={"help": "outline (Sobel-edge L1) weight"})
    w_l1: float = field(default=10.0, metadata={"help": "pixel L1 weight (0 = the paper)"})
    temperature: float = field(default=0.07, metadata={"help": "contrastive temperature"})
    rec_steps: int = field(default=1500, metadata={"help": "recogniser steps before the GAN stage"})
    rec_batch: int = field(default=128, metadata={"help": "recogniser batch size"})
    rec_lr: float = field(default=2e-3, metadata={"help": "recogniser AdamW peak learning rate"})
    synth_share: float = field(default=0.0, metadata={"help": "share of each GAN batch's writers drawn fresh every "
                                                      "step by procedural pen writers (glyph data synth); needs "
                                                      "the stroke data of bash .ci/setup --corpus-extra"})
    synth_seed: int = field(default=1000, metadata={"help": "seed of the fresh pen writers (a glyph data synth pack "
                                                    "of another seed holds writers never trained on)"})
    synth_strokes: str = field(default="", metadata={"help": "hanzi-writer-data folder (default: glyph's cache)"})
    w_style_out: float = field(default=0.0, metadata={"help": "output style identity weight: the frozen style "
                                                      "encoder must tell each generated group's writer from the "
                                                      "batch's other writers (0 = off, as the shipped weights)"})
    warp_share: float = field(default=0.0, metadata={"help": "share of each GAN batch's writers given a random "
                                                     "writer geometry (slant, aspect, rotation, size, position, "
                                                     "smooth warp: glyph.geometry), the same on its references, "
                                                     "targets and their templates, so the generator follows a "
                                                     "leaning, stretched template (0 = off, as the shipped weights)"})
    warp_strength: float = field(default=1.0, metadata={"help": "how far the random geometries go (1: slant +-15 "
                                                        "degrees, aspect 0.8-1.25; glyph.geometry)"})
    init_from: str = field(default="", metadata={"help": "fine-tune: start the generator from this run or export "
                                                 "folder's weights ('shipped' = glyph's own) instead of at random"})
    rec_from: str = field(default="", metadata={"help": "start the recogniser from this run folder's trained one "
                                                "(its weights/R.safetensors); with rec_steps=0 the GAN starts at "
                                                "once instead of after half an hour of recogniser steps on a CPU"})
    ema_decay: float = field(default=0.999, metadata={"help": "generator EMA decay"})
    steps: int = field(default=12000, metadata={"help": "total steps (recogniser + GAN)"})
    batch: int = field(default=8, metadata={"help": "unused: the batch is groups x per_group"})

    def validate(self) -> None:
        """Reject settings the networks or sampler cannot honour."""
        if len(self.content_widths) != 5 or len(self.decoder_widths) != 5:
            raise GlyphError("dsfgan content_widths and decoder_widths need 5 entries (64 px down to 4 px)")
        if not 0 <= self.global_blocks <= 5:
            raise GlyphError(f"dsfgan global_blocks must be 0..5, got {self.global_blocks}")
        if not self.ref_counts or min(self.ref_counts) < 1:
            raise GlyphError("dsfgan ref_counts needs counts of at least 1, e.g. ref_counts=1,2,4,8")
        if self.groups < 2 or self.per_group < 1:
            raise GlyphError("dsfgan needs groups >= 2 (the contrastive loss compares writers) and per_group >= 1")
        if self.rec_steps < 0 or (self.rec_steps == 0 and not self.rec_from):
            raise GlyphError(f"dsfgan rec_steps must be at least 1, or 0 with rec_from=RUN (a run folder whose "
                             f"recogniser to use); got {self.rec_steps}")
        if self.rec_steps >= self.steps:
            raise GlyphError(f"dsfgan rec_steps ({self.rec_steps}) must be below steps ({self.steps}), or the "
                             f"GAN never trains")
        if self.heads < 1 or self.dim % self.heads:
            raise GlyphError(f"dsfgan heads must be at least 1 and divide dim ({self.dim}), got {self.heads}")
        if not 0.0 <= self.warp_share <= 1.0 or not 0.0 <= self.warp_strength <= 2.0:
            raise GlyphError(f"dsfgan warp_share must be 0..1 and warp_strength 0..2; got {self.warp_share} and "
                             f"{self.warp_strength}")
        if not 0.0 <= self.synth_share <= 1.0 or self.synth_groups >= self.groups:
            raise GlyphError(f"dsfgan synth_share is the share of a batch's {self.groups} writers drawn by pen "
                             f"writers, leaving at least one real writer; got {self.synth_share}")

    @property
    def synth_groups(self) -> int:
        """Writers of each GAN batch drawn fresh by procedural pen writers."""
        return round(self.synth_share * self.groups)


@dataclass
class _Index:
    """Look-ups built once per dataset: templates, training rows, rows of each writer."""

    template_row: torch.Tensor  # char label -> row of its template glyph (-1: none)
    train: torch.Tensor  # rows that can be targets and references
    writer_rows: list[torch.Tensor]  # per writer label: its training rows
    rec_class: torch.Tensor  # char label -> recogniser class (-1: outside GB2312)
    writers: list[int]  # writer labels with enough training rows
    synth_chars: list[int] = field(default_factory=list)  # char labels fresh pen writers may draw (seen, stroked)


class DSFGAN(Writing, Adapting, Method):
    """Few-shot handwriting imitation: references of one writer + template glyphs -> that writer's glyphs."""

    name = "dsfgan"
    Config = Config
    parts = ("G", "D", "R")
    ema_parts = ("G",)
    inference_parts = ("G",)
    default_data = "embedded"  # 1,000 characters x 6 corpus writers incl. the template: enough to try it
    inputs: ClassVar[dict[str, str]] = {
        "refs": "a folder of one writer's glyph photos or scans, each named after its character",
        "text": "the characters to write (CJK; punctuation is typeset from the template font)",
    }

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._index: dict[int, _Index] = {}
        self._data: Any = None

    # ---- networks -------------------------------------------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        from glyph.data.charsets import load_charset

        c = self.config
        c.validate()
        self.rec_chars = list(load_charset("gb2312").chars)
        self.nets = {
            "G": Generator(c.backbone, tuple(c.content_widths), tuple(c.decoder_widths), c.dim, c.layers, c.heads,
                           c.nce_dim, c.global_blocks),
            "D": Discriminator(tuple(c.d_widths)),
            "R": Recognizer(len(self.rec_chars)),
        }
        return self.nets

    def _init_generator(self, source: str) -> None:
        """Load a trained generator (its EMA copy where there is one) before training starts."""
        from glyph.checkpoint import load_weights, weight_files

        folder = self.shipped_weights() if source == "shipped" else Path(source)
        if folder is None or not Path(folder).is_dir():
            raise GlyphError(f"dsfgan init_from={source}: no such run or export folder (give a folder holding "
                             f"weights/G.safetensors, or 'shipped')")
        weights = Path(folder) / "weights"
        path = next((p for p in (weights / "G.ema.safetensors", weights / "G.safetensors") if weight_files(p)), None)
        if path is None:
            raise GlyphError(f"dsfgan init_from={source}: {weights} holds no generator weights (G.safetensors)")
        state = {k: v.float() for k, v in load_weights(path).items()}
        missing, unexpected = self.nets["G"].load_state_dict(state, strict=False)
        if missing or unexpected:
            raise GlyphError(f"dsfgan init_from={source}: the generator there has another shape ({len(missing)} "
                             f"missing, {len(unexpected)} unexpected tensors); use the same backbone and widths")

    def _init_recognizer(self, source: str) -> None:
        """Load a run's trained recogniser before training starts: its classes are the GB2312 charset's whatever
        the data, so one trained on the same kind of glyphs serves another run of the same size."""
        from glyph.checkpoint import load_weights, weight_files

        path = Path(source) / "weights" / "R.safetensors"
        if not weight_files(path):
            raise GlyphError(f"dsfgan rec_from={source}: no trained recogniser there (weights/R.safetensors); give a "
                             f"dsfgan run folder that got past its recogniser steps")
        missing, unexpected = self.nets["R"].load_state_dict(load_weights(path), strict=False)
        if missing or unexpected:
            raise GlyphError(f"dsfgan rec_from={source}: that recogniser has another shape ({len(missing)} missing, "
                             f"{len(unexpected)} unexpected tensors)")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        # Only training asks for optimisers: a run loaded to write (whose init_from folder may be long gone) never
        # reads it, and a resumed run's checkpoint replaces it right after.
        if c.init_from:
            self._init_generator(c.init_from)
        if c.rec_from:
            self._init_recognizer(c.rec_from)
        betas = (float(c.betas[0]), float(c.betas[1]))
        rec = torch.optim.AdamW(self.nets["R"].parameters(), lr=c.rec_lr, weight_decay=0.05)
        from glyph.trainer import warmup_cosine

        self.schedulers = {"R": warmup_cosine(rec, c.rec_steps, max(1, c.rec_steps // 10))}
        return {"G": torch.optim.Adam(self.nets["G"].parameters(), lr=c.lr_g, betas=betas),
                "D": torch.optim.Adam(self.nets["D"].parameters(), lr=c.lr_d, betas=betas),
                "R": rec}

    # ---- data -------------------------------------------------------------------------------------
    def _prepare(self, data: Any) -> _Index:
        key = id(data)
        if key in self._index:
            return self._index[key]
        from glyph.data.loader import design_siblings, split_rows

        for col in ("writer", "char"):
            if col not in data.labels:
                raise GlyphError(f"dsfgan trains on a writers dataset (labels writer and char); this one has "
                                 f"{', '.join(data.labels) or 'no labels'}. Render one with: glyph data render "
                                 f"--fonts corpus --charset gb2312-1 --out corpus.safetensors")
        if data.channels != 1:
            raise GlyphError(f"dsfgan works on 1-channel glyphs; this dataset has {data.channels} channels")
        if data.size != (64, 64):
            raise GlyphError(f"dsfgan works at 64 px; this dataset is {data.size[0]} px (use --size 64)")
        writers = data.classes["writer"]
        if self.config.template not in writers:
            raise GlyphError(f"the dataset has no template writer '{self.config.template}' (its writers: "
                             f"{', '.join(writers[:8])}{'...' if len(writers) > 8 else ''}); render it with "
                             f"the other fonts or --set template=NAME")
        t = writers.index(self.config.template)
        w, ch = data.labels["writer"].cpu(), data.labels["char"].cpu()
        n_chars = len(data.classes["char"])
        template_row = torch.full((n_chars,), -1, dtype=torch.long)
        rows_t = torch.nonzero(w == t).flatten()
        template_row[ch[rows_t]] = rows_t
        train = split_rows(data, "SFSC")
        train = train[(w[train] != t) & (template_row[ch[train]] >= 0)]
        # Faces of an unseen face's design (its other weights and regional versions) stay out of training too: the
        # unseen-writer numbers would otherwise measure a family the model knows (Noto Serif TC Bold teaching it
        # Noto Serif SC Bold). The template writer is exempt: it is the input, never a target.
        siblings = [writers.index(x) for x in design_siblings(data) if x in writers and writers.index(x) != t]
        if siblings:
            train = train[~torch.isin(w[train], torch.tensor(siblings))]
        if len(train) == 0:
            raise GlyphError("dsfgan found no training rows: no seen writer shares characters with the template")
        writer_rows = [train[w[train] == i] for i in range(len(writers))]
        lookup = {c: i for i, c in enumerate(self.rec_chars)}
        rec_class = torch.tensor([lookup.get(c, -1) for c in data.classes["char"]], dtype=torch.long)
        need = 2 * max(self.config.ref_counts) + self.config.per_group
        ok = [i for i, r in enumerate(writer_rows) if len(r) >= need]
        if len(ok) < 2:
            raise GlyphError(f"dsfgan needs at least 2 training writers with {need}+ characters each; this dataset "
                             f"has {len(ok)}")
        synth_chars: list[int] = []
        if self.config.synth_groups:
            from glyph.data.strokes import StrokeData

            self._strokes = StrokeData(self.config.synth_strokes or None)  # says how to get it when missing
            seen = sorted(set(ch[train].tolist()))  # never an unseen character: the evaluation holds those out
            names = data.classes["char"]
            have = set(self._strokes.split([names[i] for i in seen])[0])
            synth_chars = [i for i in seen if names[i] in have]
            need = self.config.per_group + 2 * max(self.config.ref_counts)
            if len(synth_chars) < need:
                raise GlyphError(f"dsfgan synth_share needs {need}+ training characters with stroke data; "
                                 f"{len(synth_chars)} of this dataset's have it")
        dev = data.images.device
        index = _Index(template_row.to(dev), train.to(dev), [r.to(dev) for r in writer_rows], rec_class.to(dev), ok,
                       synth_chars)
        self._index = {key: index}
        self._data = data
        return index

    def train_rows(self, data: Any) -> torch.Tensor:
        return self._prepare(data).train

    def phase(self, step: int) -> dict[str, Any]:
        c = self.config
        if step < c.rec_steps:
            return {"stage": "recognizer", "batch": c.rec_batch}
        return {"stage": "gan", "batch": c.groups - c.synth_groups, "k": int(c.ref_counts[step % len(c.ref_counts)]),
                "step": step}

    def _draw(self, rows: torch.Tensor, n: int, exclude: torch.Tensor, chars: torch.Tensor,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` distinct rows of ``rows`` whose character is not in ``exclude``."""
        allowed = rows[~torch.isin(chars[rows], exclude)]
        if len(allowed) < n:
            raise GlyphError(f"a writer has only {len(allowed)} usable reference glyphs, {n} needed")
        pick = torch.randperm(len(allowed), generator=generator, device="cpu")[:n].to(rows.device)
        return allowed[pick]

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, Any]:
        idx = self._prepare(data)
        chars = data.labels["char"]
        if phase.get("stage") == "recognizer":
            return {"image": to_input(data.images[index]), "cls": idx.rec_class[chars[index]]}
        c = self.config
        k = int(phase["k"])
        writers = data.labels["writer"][index]
        targets, refs, groups = [], [], []
        seen: set[int] = set()
        for g, (row, w) in enumerate(zip(index.tolist(), writers.tolist(), strict=True)):
            if w in seen or w not in idx.writers:  # one group per writer: the contrastive views stay honest
                w = next(x for x in idx.writers if x not in seen)
                row = int(idx.writer_rows[w][torch.randint(len(idx.writer_rows[w]), ()).item()])
            seen.add(w)
            own = idx.writer_rows[w]
            others = self._draw(own, c.per_group - 1, chars[row:row + 1], chars)
            group_rows = torch.cat([torch.tensor([row], device=own.device), others])
            view_rows = self._draw(own, 2 * k, chars[group_rows], chars)
            targets.append(group_rows)
            refs.append(view_rows)
            groups += [g] * len(group_rows)
            if len(seen) == len(idx.writers):
                break
        target = torch.cat(targets)
        views = torch.stack(refs)  # [G, 2k]
        target_images, view_images = data.images[target], data.images[views]  # uint8 [N, 1, H, W], [G, 2k, ...]
        target_chars, group_ids = chars[target], torch.tensor(groups, device=target.device)
        writer_ids = data.labels["writer"][views[:, 0]]
        if c.synth_groups:  # fresh pen writers, never seen before and never again
            syn = self._synth(idx, int(phase["step"]), k, len(data.classes["writer"]), target.device)
            target_images = torch.cat([target_images, syn["target"]])
            view_images = torch.cat([view_images, syn["views"]])
            target_chars = torch.cat([target_chars, syn["chars"]])
            group_ids = torch.cat([group_ids, syn["group"] + len(refs)])
            writer_ids = torch.cat([writer_ids, syn["writer"]])
        template_images = data.images[idx.template_row[target_chars]]
        if c.warp_share:
            target_images, template_images, view_images = self._warp_writers(target_images, template_images,
                                                                             view_images, group_ids)
        ref_images = to_input(view_images)  # [G, 2k, 1, H, W]
        return {
            "target": to_input(target_images),
            "template": to_input(template_images),
            "refs": torch.cat([ref_images[:, :k], ref_images[:, k:]]),  # view A of every group, then view B
            "group": group_ids,
            "writer": writer_ids,
            "cls": idx.rec_class[target_chars],
        }

    def _warp_writers(self, targets: torch.Tensor, templates: torch.Tensor, views: torch.Tensor,
                      group: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Give ``warp_share`` of the batch's writers a random geometry each (glyph.geometry): their references,
        targets and the targets' templates all lean, stretch and sit alike, so the generator learns to follow a
        template's geometry (what the writer's-geometry stage hands it) rather than to draw upright glyphs."""
        from glyph.geometry import random_geometries, warp

        c = self.config
        n = len(views)
        chosen = torch.nonzero(torch.rand(n) < c.warp_share).flatten()
        if len(chosen) == 0:
            return targets, templates, views
        geo = random_geometries(len(chosen), strength=c.warp_strength)
        views = views.clone()
        k = views.shape[1]
        views[chosen] = warp(views[chosen].flatten(0, 1), geo.repeat_interleave(k), paper=0.0).view_as(views[chosen])
        slot = torch.full((n,), -1, dtype=torch.long)
        slot[chosen] = torch.arange(len(chosen))
        rows = torch.nonzero(slot[group.cpu()] >= 0).flatten()
        if len(rows):
            per_row = geo.repeat_interleave(torch.bincount(slot[group.cpu()][rows], minlength=len(chosen)))
            order = torch.argsort(slot[group.cpu()][rows], stable=True)
            rows = rows[order]
            targets, templates = targets.clone(), templates.clone()
            targets[rows.to(targets.device)] = warp(targets[rows.to(targets.device)], per_row, paper=0.0)
            templates[rows.to(targets.device)] = warp(templates[rows.to(targets.device)], per_row, paper=0.0)
        return targets, templates, views

    def _synth(self, idx: _Index, step: int, k: int, n_writers: int, device: torch.device) -> dict[str, Any]:
        """The GAN batch's fresh pen writers at ``step``: per writer ``per_group`` targets and 2k references of
        other characters. Everything follows from (synth_seed, step), so a resumed run draws the same."""
        from glyph.data.render import RenderSpec
        from glyph.data.synth import draw_block

        c = self.config
        n, per = c.synth_groups, c.per_group + 2 * k
        writers = [step * n + g for g in range(n)]  # a new writer index every group of every step
        picks = []
        for w in writers:
            g = torch.Generator().manual_seed(c.synth_seed * 7919 + w)
            picks.append([idx.synth_chars[i] for i in torch.randperm(len(idx.synth_chars), generator=g)[:per]])
        names = self._data.classes["char"]
        images = torch.stack([torch.from_numpy(draw_block(self._strokes, c.synth_seed, [w], [names[i] for i in p],
                                                          RenderSpec(size=64))[0]) for w, p in zip(writers, picks,
                                                                                                   strict=True)])
        images = images.unsqueeze(2).to(device)  # [n, per, 1, 64, 64]
        chars = torch.tensor(picks, device=device)
        return {"target": images[:, :c.per_group].flatten(0, 1), "views": images[:, c.per_group:],
                "chars": chars[:, :c.per_group].flatten(),
                "group": torch.arange(n, device=device).repeat_interleave(c.per_group),
                "writer": torch.arange(n, device=device) + n_writers}  # labels no real writer has

    # ---- training ---------------------------------------------------------------------------------
    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        if "image" in batch:
            return self._recognizer_step(batch, trainer)
        c = self.config
        g, d, r = self.nets["G"], self.nets["D"], self.nets["R"]
        r.eval()
        r.requires_grad_(False)
        target, template, group = batch["target"], batch["template"], batch["group"]
        n_groups = len(batch["writer"])
        with trainer.autocast():
            glob, detail, emb = g.encode_style(batch["refs"])
            fake, structure = g.synthesize(template, glob[:n_groups][group], detail[:n_groups][group])
            loss_d = (F.softplus(-d(target, template)).mean() + F.softplus(d(fake.detach(), template)).mean())
        trainer.backward(loss_d)
        trainer.step("D")
        with trainer.autocast():
            adv = F.softplus(-d(fake, template)).mean()
            fake_structure = g.content(fake)
            logits = r(fake)
        struct = sum(0.5 * (a.float() - b.detach().float()).pow(2).mean()
                     for a, b in zip(fake_structure, structure, strict=True))
        known = batch["cls"] >= 0
        cls = F.cross_entropy(logits.float()[known], batch["cls"][known]) if bool(known.any()) else fake.sum() * 0
        style = supcon(torch.stack([emb[:n_groups], emb[n_groups:]], 1), batch["writer"], c.temperature)
        fake32 = fake.float()
        edge = (sobel_magnitude(fake32) - sobel_magnitude(target.float())).abs().mean()
        l1 = (fake32 - target.float()).abs().mean()
        loss_g = (c.w_adv * adv + c.w_cls * cls + c.w_struct * struct + c.w_style * style + c.w_edge * edge
                  + c.w_l1 * l1)
        logs = {}
        if c.w_style_out:
            style_out = self._style_identity(g, fake, emb[n_groups:], group, n_groups, trainer)
            loss_g = loss_g + c.w_style_out * style_out
            logs["style_out"] = style_out.detach()
        trainer.backward(loss_g)
        trainer.step("G")
        return {"loss_d": loss_d.detach(), "adv": adv.detach(), "cls": cls.detach(), "struct": struct.detach(),
                "style": style.detach(), "edge": edge.detach(), "l1": l1.detach(), **logs}

    def _style_identity(self, g: Any, fake: torch.Tensor, view_b: torch.Tensor, group: torch.Tensor, n_groups: int,
                        trainer: Any) -> torch.Tensor:
        """Cross-entropy of each generated group's writer among the batch's writers, as the style encoder sees it.

        The generated glyphs of one group are read as a reference set by the style encoder with its weights
        detached, and must sit nearest the other view of their own writer (InfoNCE over the batch). The
        pixel losses only reward a glyph near the target; this rewards one that is recognisably *this*
        writer's, the signal a new writer's references need (FontDiffuser's style contrastive refinement,
        SDT's writer-wise contrast, here through glyph's own encoder).
        """
        per = fake.shape[0] // n_groups
        order = torch.argsort(group, stable=True)  # groups are contiguous already; sorting keeps that true
        sets = fake[order].view(n_groups, per, *fake.shape[1:])
        params = {k: v.detach() for k, v in g.style.named_parameters()}
        buffers = dict(g.style.named_buffers())
        was = g.style.training
        g.style.eval()  # batch norm on running statistics: a batch of fakes must not move them
        try:
            with trainer.autocast():
                emb = torch.func.functional_call(g.style, {**params, **buffers}, (sets,))[2]
        finally:
            g.style.train(was)
        logits = emb.float() @ view_b.detach().float().t() / self.config.temperature
        return F.cross_entropy(logits, torch.arange(n_groups, device=logits.device))

    def _recognizer_step(self, batch: Any, trainer: Any) -> dict[str, float]:
        from glyph.eval.judge import augment

        r = self.nets["R"]
        r.requires_grad_(True)
        known = batch["cls"] >= 0
        x = augment(batch["image"][known].add(1).div(2), 1.0).mul(2).sub(1)
        with trainer.autocast():
            logits = r(x)
        loss = F.cross_entropy(logits.float(), batch["cls"][known], label_smoothing=0.1)
        trainer.backward(loss)
        trainer.step("R")
        self.schedulers["R"].step()
        acc = (logits.argmax(1) == batch["cls"][known]).float().mean()
        return {"rec_loss": loss.detach(), "rec_acc": acc.detach()}

    # ---- previews and evaluation during training (writing: writing.py; adaptation: adapt.py) --------
    def _preview_rows(self, n: int, generator: torch.Generator | None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        data, idx = self._data, self._index[id(self._data)]
        chars = data.labels["char"]
        writers = idx.writers[:max(1, min(8, n // 4))]
        per = max(1, n // len(writers))
        pool = idx.template_row[idx.template_row >= 0]
        pick = pool[torch.randperm(len(pool), generator=generator)[:per].to(pool.device)]
        refs = [data.images[self._draw(idx.writer_rows[w], 4, chars[pick], chars, generator)] for w in writers]
        return refs, [data.images[pick]] * len(writers)

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Writers of the training data (or, without data, the bundled example writer) x a few characters."""
        if self._data is not None:
            refs, templates = self._preview_rows(n, generator)
        else:
            from glyph.data.refs import load_references
            from glyph.data.templates import template_glyphs
            from glyph.resources import examples_root

            ref_set = load_references(examples_root() / "handwriting", size=64)
            found = template_glyphs(DEMO_TEXT).glyphs
            chars = [ch for ch in DEMO_TEXT if ch in found][:n]
            refs = [torch.from_numpy(ref_set.images).unsqueeze(1)]
            templates = [torch.from_numpy(np.stack([found[ch] for ch in chars])).unsqueeze(1)]
        out = torch.cat([self.stylize(r, t) for r, t in zip(refs, templates, strict=True)])
        return out[torch.arange(n) % len(out)]

    def evaluate(self, data: Any) -> dict[str, float]:
        """Pixel L1 on up to 256 held-out characters of seen writers, 4 references each (score = L1)."""
        from glyph.data.loader import split_rows

        idx = self._prepare(data)
        rows = split_rows(data, "SFUC").to(idx.train.device)
        rows = rows[(idx.template_row[data.labels["char"][rows]] >= 0)
                    & torch.isin(data.labels["writer"][rows], torch.tensor(idx.writers, device=rows.device))]
        if len(rows) == 0:
            return {}
        gen = torch.Generator().manual_seed(0)
        rows = rows[torch.randperm(len(rows), generator=gen)[:256].to(rows.device)]
        chars, writers = data.labels["char"], data.labels["writer"]
        total, count = 0.0, 0
        for w in writers[rows].unique().tolist():
            mine = rows[writers[rows] == w]
            refs = data.images[self._draw(idx.writer_rows[w], 4, chars[mine], chars, gen)]
            fake = self.stylize(refs, data.images[idx.template_row[chars[mine]]])
            total += float((fake - data.images[mine].float().cpu() / 255).abs().sum(dim=(1, 2, 3)).mean()) * len(mine)
            count += len(mine)
        l1 = total / count / (64 * 64)
        return {"l1": l1, "score": l1}
