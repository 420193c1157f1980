"""The RestoreCAE-Zi recipe: restore a damaged glyph from its image and its character's standard form.

seeds-code-report.md §5. Training pairs are made on the fly: a clean glyph of a writers dataset (the corpus
fonts) is damaged by the data layer's seeded wear pipeline (:class:`glyph.data.damage.Damage`, the
published ``PaintingTransform`` with inscription wear added), and the template writer's glyph of the same
character is the second input channel (cached in the dataset, not re-rendered per sample as published).
``template_dropout`` blanks it for a share of samples, so one model also restores glyphs whose character is
unknown. Loss: MSE on the sigmoid output, plus optional Sobel-edge L1 and SSIM terms. AdamW, warm-up and
cosine decay, weight decay off for norms and biases. 64 px by default (the published 224 px is 12x the
compute for one-channel glyphs); any multiple of 32 by preset.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from glyph import GlyphError, Method, Opt, RunContext

from .model import RestoreAE

if TYPE_CHECKING:
    from PIL import Image


UNCERTAINTY_PASSES = 8
# Test-time shifts (rows, columns): small enough that a glyph stays inside its frame.
TTA_SHIFTS = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, -1), (2, 0), (0, -2))


@dataclass
class Config:
    """restorecae settings; the defaults are the CPU model glyph ships."""

    encoder: str = field(default="convnext_atto", metadata={"help": "timm ConvNeXt (convnext_tiny = the paper)"})
    latent: int = field(default=512, metadata={"help": "bottleneck size (the paper: 768)"})
    decoder_depths: tuple[int, ...] = field(default=(2, 2, 2, 2), metadata={"help": "blocks per decoder stage"})
    resolution: int = field(default=64, metadata={"help": "image size (a multiple of 32)"})
    use_template: bool = field(default=True, metadata={"help": "second input channel: the standard-font glyph"})
    template_dropout: float = field(default=0.15, metadata={"help": "share of samples trained without it"})
    template: str = field(default="noto-sans-sc-regular", metadata={"help": "writer that holds the templates"})
    skips: bool = field(default=True, metadata={"help": "U-Net skip connections from the encoder and the input "
                                                  "(keeps the surviving ink; not in the paper)"})
    dropout: float = field(default=0.1, metadata={"help": "decoder channel dropout (Monte-Carlo uncertainty)"})
    damage_k: int = field(default=2, metadata={"help": "distinct damage ops per sample"})
    damage_strength: float = field(default=0.5, metadata={"help": "damage severity (1 = default)"})
    damage_k_max: int = field(default=4, metadata={"help": "above damage_k: each batch draws its op count "
                                                   "between the two"})
    damage_strength_max: float = field(default=2.0, metadata={"help": "above damage_strength: each batch draws "
                                                              "its severity between the two"})
    w_edge: float = field(default=0.1, metadata={"help": "Sobel-edge L1 weight (0 = the paper's MSE only)"})
    w_ssim: float = field(default=0.1, metadata={"help": "(1 - SSIM) weight"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW peak learning rate"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay (not on norms and biases)"})
    warmup: int = field(default=500, metadata={"help": "linear warm-up steps"})
    steps: int = field(default=3000, metadata={"help": "training steps"})
    batch: int = field(default=64, metadata={"help": "batch size"})

    def validate(self) -> None:
        """Sizes the networks can make."""
        if self.resolution % 32:
            raise GlyphError(f"restorecae resolution must be a multiple of 32, got {self.resolution}")
        if len(self.decoder_depths) != 4:
            raise GlyphError("restorecae decoder_depths needs 4 values, one per ConvNeXt stage")
        if not 0 <= self.dropout < 1:
            raise GlyphError(f"restorecae dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.template_dropout <= 1:
            raise GlyphError(f"restorecae template_dropout must be in [0, 1], got {self.template_dropout}")


def _ssim_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from glyph.eval.stats import ssim

    return 1 - ssim(a, b).mean()


class RestoreCAE(Method):
    """Restore worn glyphs (inscriptions, rubbings) with a ConvNeXt autoencoder and the standard-font form."""

    name = "restorecae"
    Config = Config
    parts = ("net",)
    inputs: ClassVar[dict[str, str]] = {"input": "damaged glyph images (a file or a folder)",
                                        "chars": "their characters, from --chars or the file names"}

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self.config.validate()
        self._index: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def build(self) -> dict[str, torch.nn.Module]:
        c = self.config
        self.nets = {"net": RestoreAE(c.encoder, c.latent, tuple(c.decoder_depths), c.resolution, c.use_template,
                                      c.skips, c.dropout)}
        return self.nets

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        params = list(self.nets["net"].named_parameters())
        decay = [p for n, p in params if p.ndim > 1 and not n.endswith("gamma")]
        rest = [p for n, p in params if not (p.ndim > 1 and not n.endswith("gamma"))]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                                 {"params": rest, "weight_decay": 0.0}], lr=c.lr)

        from glyph.trainer import warmup_cosine

        self.schedulers = {"lr": warmup_cosine(opt, c.steps, c.warmup)}
        return {"net": opt}

    # ---- data -------------------------------------------------------------------------------------
    def _prepare(self, data: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(template row per character label, training rows) for ``data``."""
        key = id(data)
        if key in self._index:
            return self._index[key]
        from glyph.data.loader import split_rows

        if data.channels != 1:
            raise GlyphError(f"restorecae restores 1-channel glyphs; this dataset has {data.channels} channels")
        labels = set(data.labels)
        if not self.config.use_template:
            rows = split_rows(data, "SFSC")
            index = (torch.full((max(1, len(data.classes.get("char", []))),), -1, dtype=torch.long), rows)
        else:
            if not {"writer", "char"} <= labels:
                raise GlyphError("restorecae with templates trains on a writers dataset (labels writer and char); "
                                 "render one with glyph data render --fonts corpus, or --set use_template=false")
            writers = data.classes["writer"]
            if self.config.template not in writers:
                raise GlyphError(f"the dataset has no template writer '{self.config.template}'; render it with the "
                                 f"other fonts or --set template=NAME")
            t = writers.index(self.config.template)
            w, ch = data.labels["writer"].cpu(), data.labels["char"].cpu()
            template_row = torch.full((len(data.classes["char"]),), -1, dtype=torch.long)
            rows_t = torch.nonzero(w == t).flatten()
            template_row[ch[rows_t]] = rows_t
            rows = split_rows(data, "SFSC")
            rows = rows[(w[rows] != t) & (template_row[ch[rows]] >= 0)]
            index = (template_row, rows)
        if len(index[1]) == 0:
            raise GlyphError("restorecae found no training rows in this dataset")
        dev = data.images.device
        self._index = {key: (index[0].to(dev), index[1].to(dev))}
        return self._index[key]

    def train_rows(self, data: Any) -> torch.Tensor:
        return self._prepare(data)[1]

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        r = self.config.resolution
        return x if x.shape[-1] == r else F.interpolate(x, size=(r, r), mode="bilinear", antialias=True).clamp(0, 1)

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, torch.Tensor]:
        from glyph.data.damage import Damage

        c = self.config
        template_row, _ = self._prepare(data)
        clean = self._resize(data.images[index].float() / 255)  # 1 = ink
        # The damage draws from its own generator, seeded from the global stream the trainer checkpoints.
        seed = int(torch.randint(0, 2**62, ()).item())
        gen = torch.Generator(device=clean.device).manual_seed(seed)
        k, strength = c.damage_k, c.damage_strength
        if c.damage_k_max > k:  # varied wear: a light touch in one batch, a ruin in the next
            k = int(torch.randint(k, c.damage_k_max + 1, (), generator=gen, device=clean.device))
        if c.damage_strength_max > strength:
            u = float(torch.rand((), generator=gen, device=clean.device))
            strength = strength + u * (c.damage_strength_max - strength)
        damaged = Damage(k=k, strength=strength)(clean, gen)
        batch = {"damaged": damaged, "clean": clean}
        if c.use_template:
            rows = template_row[data.labels["char"][index]]
            template = self._resize(data.images[rows.clamp(min=0)].float() / 255)
            keep = (torch.rand(len(index), 1, 1, 1, generator=gen, device=clean.device) >= c.template_dropout)
            batch["template"] = template * (keep & (rows >= 0).view(-1, 1, 1, 1))
        return batch

    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        c = self.config
        with trainer.autocast():
            logits = self.nets["net"](batch["damaged"], batch.get("template"))
        out = torch.sigmoid(logits.float())
        clean = batch["clean"]
        mse = F.mse_loss(out, clean)
        loss = mse
        logs = {"mse": mse.detach()}
        if c.w_edge:
            from glyph.losses import sobel_magnitude

            edge = (sobel_magnitude(out) - sobel_magnitude(clean)).abs().mean()
            loss = loss + c.w_edge * edge
            logs["edge"] = edge.detach()
        if c.w_ssim:
            s = _ssim_loss(1 - out, 1 - clean)
            loss = loss + c.w_ssim * s
            logs["1-ssim"] = s.detach()
        trainer.backward(loss)
        trainer.step("net")
        self.schedulers["lr"].step()
        return {"loss": loss.detach(), **logs}

    # ---- use --------------------------------------------------------------------------------------
    @torch.no_grad()
    def restore_batch(self, damaged: torch.Tensor, template: torch.Tensor | None = None, batch: int = 128,
                      progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Restored glyphs in [0, 1] (1 = ink) from damaged ones (and their templates), all ``[N, 1, R, R]``;
        ``progress(done, total)`` after each batch."""
        net = self.nets["net"].eval()
        dev = next(net.parameters()).device
        out = []
        for i in range(0, len(damaged), batch):
            d = self._resize(damaged[i:i + batch].float()).to(dev)
            t = None if template is None else self._resize(template[i:i + batch].float()).to(dev)
            out.append(torch.sigmoid(net(d, t).float()).cpu())
            if progress is not None:
                progress(min(i + batch, len(damaged)), len(damaged))
        return torch.cat(out) if out else torch.zeros(0, 1, self.config.resolution, self.config.resolution)

    @torch.no_grad()
    def uncertainty_batch(self, damaged: torch.Tensor, template: torch.Tensor | None = None, kind: str = "auto",
                          passes: int = UNCERTAINTY_PASSES, seed: int = 0, batch: int = 128,
                          progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Per-pixel uncertainty ``[N, 1, R, R]`` of the restorations of ``damaged``: the standard deviation of
        ``passes`` restorations that differ only by chance.

        :param kind: ``mc`` (Monte-Carlo dropout: the decoder's dropout left on, a different draw per pass; needs
            a model trained with ``dropout``), ``tta`` (test-time shifts: input and template moved by a pixel or
            two, the output moved back) or ``auto`` (tta, the better calibrated on held-out glyphs).
        """
        net = self.nets["net"].eval()
        kind = self.uncertainty_kind(kind)
        dev = next(net.parameters()).device
        out = []
        for i in range(0, len(damaged), batch):
            d = self._resize(damaged[i:i + batch].float()).to(dev)
            t = None if template is None else self._resize(template[i:i + batch].float()).to(dev)
            draws = []
            for k in range(passes):
                if kind == "mc":
                    net.mc_dropout(True)
                    try:
                        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                            torch.manual_seed(seed * 1000 + k)  # the same maps every time
                            draws.append(torch.sigmoid(net(d, t).float()))
                    finally:
                        net.mc_dropout(False)
                else:
                    dy, dx = TTA_SHIFTS[k % len(TTA_SHIFTS)]
                    moved = net(_shift(d, dy, dx), None if t is None else _shift(t, dy, dx))
                    draws.append(_shift(torch.sigmoid(moved.float()), -dy, -dx))
            out.append(torch.stack(draws).std(0, unbiased=False).cpu())
            if progress is not None:
                progress(min(i + batch, len(damaged)), len(damaged))
        r = self.config.resolution
        return torch.cat(out) if out else torch.zeros(0, 1, r, r)

    def uncertainty_kind(self, kind: str) -> str:
        """``auto`` -> ``mc`` or ``tta`` for this model; an unknown kind or mc without dropout is an error."""
        if kind not in ("auto", "mc", "tta"):
            raise GlyphError(f"uncertainty {kind!r}: use auto, mc or tta")
        if kind == "auto":  # test-time shifts: better calibrated per pixel, and their flags catch more (the card)
            return "tta"
        if kind == "mc" and not self.config.dropout > 0:
            raise GlyphError("these weights were trained without dropout, so Monte-Carlo uncertainty is not "
                             "available; use --uncertainty tta")
        return kind

    def restore(self, images: Any, *, chars: str | Sequence[str] | None = None, ink: str = "auto",
                ctx: RunContext | None = None) -> list[Image.Image]:
        """The restored glyph of each damaged image, in order, dark ink on white (see :mod:`glyph.api`).

        :param images: a folder of damaged glyph images, one image file, a list of files, or PIL images.
        :param chars: each image's character (a string with one per image, or a list; ``""`` for unknown),
            so its standard form guides the restoration; default: from the file names (``永.png``, ``U+6C38.png``).
        :param ink: ``auto`` (the majority is paper), ``dark`` (on light paper) or ``light`` (a rubbing).
        :param ctx: collects the inputs that were skipped and why (``ctx.report``); a fresh one when None.
        """
        from glyph.api import pil_images

        inputs = self._inputs(images, chars, ink, ctx)
        return [] if inputs is None else pil_images(self.restore_batch(*inputs[:2]))

    def _inputs(self, images: Any, chars: str | Sequence[str] | None, ink: str, ctx: RunContext | None
                ) -> tuple[torch.Tensor, torch.Tensor | None, list[str]] | None:
        """The damaged glyphs, their templates and characters from what :meth:`restore` takes (None: no images)."""
        from PIL import Image as PILImage

        from glyph.data.refs import char_from_filename
        from glyph.imageio import ImageReadError, list_images, pixels_of, read_image
        from glyph.resources import resolve_input

        if ink not in ("auto", "dark", "light"):
            raise GlyphError(f"ink {ink!r}: use auto, dark or light")
        ctx = ctx or RunContext()
        if isinstance(images, (str, Path)):
            src = resolve_input(images)
            if src.is_dir():
                paths, skipped = list_images(src)
                for p, why in skipped:
                    ctx.skip(p, why)
                items: list[Any] = list(paths)
            elif src.is_file():
                items = [src]
            else:
                raise GlyphError(f"{src} does not exist; give a damaged glyph image, a folder of them or PIL images")
        else:
            items = list(images)
        names = list(chars) if chars is not None else None
        if names is not None and len(names) != len(items):
            raise GlyphError(f"chars has {len(names)} characters for {len(items)} images; give one per image")
        glyphs, labels = [], []
        for i, item in enumerate(items):
            if isinstance(item, PILImage.Image):
                pixels, kind = pixels_of(item)
                guess = ""
            else:
                try:
                    pixels, kind = read_image(item)
                except ImageReadError as e:
                    raise GlyphError(str(e)) from None
                guess = char_from_filename(Path(item).stem) or ""
            glyphs.append(_to_glyph(pixels, kind, ink, self.config.resolution))
            labels.append(names[i] if names is not None else guess)
        if not glyphs:
            return None
        damaged = torch.from_numpy(np.stack(glyphs)).unsqueeze(1)
        template = self._templates(ctx, [f"image {i}" for i in range(len(items))], labels) \
            if self.config.use_template else None
        return damaged, template, labels

    def restore_checked(self, images: Any, *, chars: str | Sequence[str] | None = None, ink: str = "auto",
                        uncertainty: str = "auto", ctx: RunContext | None = None) -> list[Restoration]:
        """:meth:`restore`, and with each glyph what glyph can say about it: an uncertainty map and the evidence
        and flags of :func:`glyph.eval.trust.assess` (what ``glyph run restorecae`` writes to report.json).

        :param uncertainty: ``auto``, ``mc``, ``tta`` (see :meth:`uncertainty_batch`) or ``none``.
        """
        from glyph.api import pil_images
        from glyph.eval.judge import load_judge
        from glyph.eval.trust import assess

        from .sheet import uncertainty_picture

        kind = "none" if uncertainty == "none" else self.uncertainty_kind(uncertainty)
        ctx = ctx or RunContext()
        inputs = self._inputs(images, chars, ink, ctx)
        if inputs is None:
            return []
        damaged, template, labels = inputs
        restored = self.restore_batch(damaged, template,
                                      progress=lambda done, total: ctx.advance("restoring", done, total))
        images_out = pil_images(restored)
        unsure = None if kind == "none" else self.uncertainty_batch(
            damaged, template, kind, progress=lambda done, total: ctx.advance("estimating uncertainty", done, total))
        judge = load_judge(None, next(self.nets["net"].parameters()).device)
        trust = assess(damaged, restored, labels, judge=judge, uncertainty=unsure, kind=kind)
        return [Restoration(im, None if unsure is None else _rgb(uncertainty_picture(unsure[i, 0].numpy(),
                                                                                     restored[i, 0].numpy())), t)
                for i, (im, t) in enumerate(zip(images_out, trust, strict=True))]

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Damaged | restored pairs of the bundled embedded glyphs (the same seeded damage every time)."""
        from glyph.data.damage import Damage
        from glyph.data.sources import open_dataset

        data = open_dataset("embedded")
        self._prepare(data)
        template_row, rows = self._index[id(data)]
        pick = rows[: max(1, n // 2)]
        clean = self._resize(data.images[pick].float() / 255)
        with torch.autocast(clean.device.type, enabled=False):  # the trainer previews under autocast
            damaged = Damage(k=self.config.damage_k)(clean, torch.Generator().manual_seed(0))
        template = None
        if self.config.use_template:
            template = self._resize(data.images[template_row[data.labels["char"][pick]]].float() / 255)
        restored = self.restore_batch(damaged, template)
        out = torch.stack([damaged, restored], 1).flatten(0, 1)
        return out[torch.arange(n) % len(out)]

    def run(
        self,
        ctx: RunContext,
        *,
        input: Annotated[Path | None, Opt("a damaged glyph image or a folder of them", short="-i")] = None,
        out: Annotated[Path, Opt("folder for the restored images (same names), their uncertainty maps and "
                                 "report.json", short="-o")] = Path("restored"),
        chars: Annotated[str | None, Opt("the characters of the inputs, in file-name order (default: from the "
                                         "file names)")] = None,
        no_template: Annotated[bool, Opt("restore without the standard-font glyph (characters unknown)")] = False,
        ink: Annotated[str, Opt("ink of the inputs: auto (the majority is paper), dark (on light paper) or light "
                                "(a rubbing)")] = "auto",
        compare: Annotated[Path | None, Opt("sheet of damaged | restored | uncertainty (| clean) | read as, "
                                            "flagged glyphs framed in red")] = None,
        clean: Annotated[Path | None, Opt("folder of the clean originals, for --compare and the error numbers")] = None,
        uncertainty: Annotated[str, Opt("how to estimate where the model guessed: auto (= tta), tta (test-time "
                                        "shifts), mc (Monte-Carlo dropout) or none")] = "auto",
    ) -> None:
        """Restore damaged glyph images, guided by each character's standard form when it is known; say where the
        model guessed and flag restorations that may have changed the character."""
        from glyph.data.refs import char_from_filename
        from glyph.imageio import ImageReadError, list_images, read_image
        from glyph.paths import check_output_dir
        from glyph.resources import resolve_input

        if input is None:
            raise GlyphError("give --input: a damaged glyph image or a folder of them (e.g. from glyph data damage)")
        if ink not in ("auto", "dark", "light"):
            raise GlyphError(f"--ink {ink!r}: use auto, dark or light")
        kind = "none" if uncertainty == "none" else self.uncertainty_kind(uncertainty)
        src = resolve_input(input)
        if src.is_dir():
            paths, skipped = list_images(src)
            for p, why in skipped:
                ctx.skip(p, why)
        elif src.is_file():
            paths = [src]
        else:
            raise GlyphError(f"--input {src} does not exist; give a damaged glyph image or a folder of them")
        if not paths:
            raise GlyphError(f"no images in {src}; give a folder of damaged glyph images (PNG, JPEG...)")
        out = check_output_dir(out, "--out", new=False)
        root = src if src.is_dir() else src.parent
        if out.resolve().is_relative_to(root.resolve()) and (src.is_dir() or out.resolve() == root.resolve()):
            # Restored images keep their inputs' names: writing there would overwrite the damaged originals.
            raise GlyphError(f"--out {out} is --input's folder or inside it; choose a folder outside {root} so the "
                             f"inputs are not overwritten")
        given = list(chars) if chars is not None else []
        if chars is not None and len(given) != len(paths):
            ctx.note(f"--chars has {len(given)} characters for {len(paths)} images (in file-name order): "
                     + ("the rest take theirs from the file names" if len(given) < len(paths)
                        else f"the last {len(given) - len(paths)} are not used"))
        images, kept, kept_chars, sources = [], [], [], []
        for i, p in enumerate(paths):
            try:
                pixels, kind_read = read_image(p, note=ctx.note)
            except ImageReadError as e:
                ctx.skip(p, str(e))
                continue
            glyph, why = _one_glyph(pixels, kind_read, ink, self.config.resolution)
            if glyph is None:
                ctx.skip(p, why)
                continue
            images.append(glyph)
            kept.append(p)
            named = char_from_filename(Path(p).stem) or ""
            if i < len(given):
                kept_chars.append(given[i])
                sources.append("--chars")
            else:
                kept_chars.append(named)
                sources.append("file name" if named else "unknown")
        if not images:
            raise GlyphError(f"none of the {len(paths)} images in {src} could be restored")
        damaged = torch.from_numpy(np.stack(images)).unsqueeze(1)
        template = None
        if self.config.use_template and not no_template:
            template = self._templates(ctx, kept, kept_chars)
        elif self.config.use_template:
            ctx.note("restoring without templates (--no-template)")
        restored = self.restore_batch(damaged, template, batch=32,
                                      progress=lambda done, total: ctx.advance("restoring", done, total))
        targets = _targets(ctx, kept, src, out)
        for target, img in zip(targets, restored, strict=True):
            ctx.save_image(target, 1.0 - img[0].numpy())
        unsure = None
        if kind != "none":
            unsure = self.uncertainty_batch(damaged, template, kind, seed=ctx.seed or 0, batch=32, progress=lambda
                                            done, total: ctx.advance("estimating uncertainty", done, total))
        from glyph.eval.judge import load_judge
        from glyph.eval.trust import assess

        judge = load_judge(None, next(self.nets["net"].parameters()).device)
        trust = assess(damaged, restored, kept_chars, judge=judge, uncertainty=unsure, kind=kind)
        maps: list[Path | None] = [None] * len(kept)
        if unsure is not None:
            from .sheet import uncertainty_picture

            for i, target in enumerate(targets):
                maps[i] = ctx.save_image(out / "uncertainty" / target.relative_to(out),
                                         uncertainty_picture(unsure[i, 0].numpy(), restored[i, 0].numpy()))
        truth = self._clean_for(ctx, kept, src, resolve_input(clean)) if clean is not None else None
        glyph_records = []
        for i, t in enumerate(trust):
            glyph_records.append({"input": str(kept[i]), "output": str(targets[i]),
                                  "uncertainty_map": None if maps[i] is None else str(maps[i]),
                                  "char_from": sources[i], **t.record()})
        if truth is not None:
            self._truth_numbers(ctx, damaged, restored, truth, glyph_records)
        from glyph.eval.trust import ink_dropped, ink_invented

        # Undamaged already: the restoration neither added ink away from the input's nor erased the input's.
        added, erased = ink_invented(damaged.float(), restored), ink_dropped(damaged.float(), restored)
        change = (restored - damaged.float()).abs().flatten(1).mean(1)
        untouched = [Path(p).name for p, a, e, c in zip(kept, added.tolist(), erased.tolist(), change.tolist(),
                                                        strict=True)
                     if a <= UNTOUCHED_ADDED and e <= UNTOUCHED_ERASED and c <= UNTOUCHED_CHANGE]
        if untouched:
            ctx.note(f"{len(untouched)} input(s) look undamaged already (the restoration changed almost nothing): "
                     f"{', '.join(untouched[:5])}{'...' if len(untouched) > 5 else ''}")
        flagged = [(Path(p).name, t) for p, t in zip(kept, trust, strict=True) if t.flagged]
        ctx.report.numbers["flagged"] = len(flagged)
        if flagged:
            ctx.note(f"{len(flagged)} of {len(kept)} restorations need a look: " + "; ".join(
                f"{name} ({', '.join(t.flags)})" for name, t in flagged[:6]) + ("..." if len(flagged) > 6 else ""))
        from glyph.eval.trust import DROPPED_LIMIT, INK, READ_CONFIDENCE, TOLERANCE, UNCERTAIN_LIMITS, UNCLEAR_LIMIT
        from glyph.imageio import atomic_output

        report = {"method": self.name, "uncertainty": kind, "flagged": len(flagged),
                  "limits": {"ink": INK, "tolerance_px": TOLERANCE, "dropped": DROPPED_LIMIT,
                             "read_confidence": READ_CONFIDENCE, "uncertain": UNCERTAIN_LIMITS.get(kind),
                             "unclear": UNCLEAR_LIMIT},
                  "glyphs": glyph_records}
        with atomic_output(out / "report.json") as tmp:
            tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        ctx.report.written.append(out / "report.json")
        if compare is not None:
            ctx.save_image(compare, self._sheet(kept, damaged, restored, unsure, truth, trust))

    def _truth_numbers(self, ctx: RunContext, damaged: torch.Tensor, restored: torch.Tensor,
                       truth: list[torch.Tensor | None], records: list[dict[str, Any]]) -> None:
        """Error numbers against the clean originals that were found: per glyph in ``records``, and overall."""
        from glyph.eval.stats import ssim
        from glyph.eval.trust import ink_invented, ink_kept

        have = [i for i, t in enumerate(truth) if t is not None]
        if not have:
            return
        r, d = restored[have], damaged[have].float()
        t = torch.stack([truth[i] for i in have])
        kept_share, invented = ink_kept(t, d, r), ink_invented(t, r)
        l1 = (r - t).abs().flatten(1).mean(1)
        s = ssim(1 - r, 1 - t)
        for k, i in enumerate(have):
            records[i].update({"l1": round(float(l1[k]), 4), "ssim": round(float(s[k]), 4),
                               "ink_kept": None if kept_share[k] != kept_share[k] else round(float(kept_share[k]), 4),
                               "ink_invented": None if invented[k] != invented[k] else round(float(invented[k]), 4)})
        ctx.report.numbers["L1 damaged"] = float((d - t).abs().mean())
        ctx.report.numbers["L1 restored"] = float(l1.mean())
        ctx.report.numbers["SSIM restored"] = float(s.mean())
        ctx.report.numbers["ink kept"] = float(kept_share.nanmean())
        ctx.report.numbers["ink invented"] = float(invented.nanmean())

    def _sheet(self, paths: list, damaged: torch.Tensor, restored: torch.Tensor, unsure: torch.Tensor | None,
               truth: list[torch.Tensor | None] | None, trust: list[Any]) -> Any:
        """The labelled compare sheet (a PIL image)."""
        from glyph.data.templates import template_glyphs

        from .sheet import compare_sheet, uncertainty_picture

        n = len(paths)
        columns: dict[str, list[np.ndarray | None]] = {
            "damaged": [damaged[i, 0].float().numpy() for i in range(n)],
            "restored": [restored[i, 0].numpy() for i in range(n)]}
        if unsure is not None:
            columns["uncertainty"] = [uncertainty_picture(unsure[i, 0].numpy(), restored[i, 0].numpy())
                                      for i in range(n)]
        if truth is not None:
            columns["clean"] = [None if t is None else t[0].numpy() for t in truth]
        read = [t.read_as for t in trust]
        if any(read):
            found = template_glyphs([c for c in read if c], size=self.config.resolution).glyphs
            columns["read as"] = [found[c].astype(np.float32) / 255 if c in found else None for c in read]
        return compare_sheet(columns, [t.codes for t in trust], [Path(p).name for p in paths])

    def _templates(self, ctx: RunContext, paths: list, chars: list[str]) -> torch.Tensor:
        """The standard-font glyph of each input's character (blank where it is unknown, with a note)."""
        from glyph.data.templates import template_glyphs

        found = template_glyphs([c for c in chars if c], size=self.config.resolution).glyphs
        r = self.config.resolution
        out = torch.zeros(len(chars), 1, r, r)
        unknown = []
        for i, (p, ch) in enumerate(zip(paths, chars, strict=True)):
            if ch in found:
                out[i, 0] = torch.from_numpy(found[ch]).float() / 255
            else:
                unknown.append(Path(p).name)
        if unknown:
            ctx.note(f"{len(unknown)} input(s) restored without a template (character unknown or not in the "
                     f"template font): {', '.join(unknown[:5])}{'...' if len(unknown) > 5 else ''}; name files "
                     f"after their character or pass --chars")
        return out

    def _clean_for(self, ctx: RunContext, paths: list, src: Path, clean: Path) -> list[torch.Tensor | None]:
        from glyph.imageio import ImageReadError, read_image

        out: list[torch.Tensor | None] = []
        for p in paths:
            rel = Path(p).relative_to(src) if src.is_dir() else Path(Path(p).name)
            folder = (clean / rel).parent
            match = next(iter(sorted(folder.glob(rel.stem + ".*"))), None) if folder.is_dir() else None
            if match is None:
                out.append(None)
                continue
            try:
                pixels, kind = read_image(match)
            except ImageReadError as e:
                ctx.skip(match, str(e))
                out.append(None)
                continue
            out.append(torch.from_numpy(_to_glyph(pixels, kind, "auto", self.config.resolution)).unsqueeze(0))
        if not any(t is not None for t in out):
            ctx.note(f"no clean original in {clean} matches an input's name; the sheet has no clean row")
        return out


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` moved by (dy, dx) pixels; what moves in is paper (0)."""
    if dy == 0 and dx == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (abs(dx), abs(dx), abs(dy), abs(dy)))
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[..., top:top + h, left:left + w]


@dataclass
class Restoration:
    """One restored glyph with its evidence: the image (dark ink on white), its uncertainty map (RGB, red where the
    model was unsure; None without one) and ``trust`` (:class:`glyph.eval.trust.GlyphTrust`: readings, flags)."""

    image: Image.Image
    uncertainty: Image.Image | None
    trust: Any


def _rgb(picture: np.ndarray) -> Image.Image:
    from PIL import Image as PILImage

    return PILImage.fromarray((np.clip(picture, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")


def _targets(ctx: RunContext, paths: list, src: Path, out: Path) -> list[Path]:
    """Where each input's restoration goes: its relative path under ``out`` as PNG, never two to one name.

    ``a.png`` and ``a.jpg`` both become ``a.png``; the second is written as ``a_2.png`` (still read as the
    same character) and a note says so, rather than one restoration silently replacing the other.
    """
    taken: set[Path] = set()
    targets = []
    for p in paths:
        rel = (Path(p).relative_to(src) if src.is_dir() else Path(Path(p).name)).with_suffix(".png")
        target, n = out / rel, 2
        while target in taken:
            target, n = out / rel.with_name(f"{rel.stem}_{n}.png"), n + 1
        if n > 2:
            ctx.note(f"{p} would be written over another input's restoration; wrote it as {target.name}")
        taken.add(target)
        targets.append(target)
    return targets


# An input is called undamaged already when its restoration adds at most this share of ink away from the input's
# ink, erases at most that share of it, and changes its pixels by at most that much on average (on the bundled
# rubbings with the shipped weights: the clean originals change by 0.013-0.025, the damaged ones by 0.19-0.33,
# whose stone and paper tone the restoration removes even where it keeps the strokes).
UNTOUCHED_ADDED, UNTOUCHED_ERASED, UNTOUCHED_CHANGE = 0.01, 0.03, 0.05
MANY_GLYPHS = 3  # ink bands along both axes from which an image is a page, not one glyph


def _one_glyph(pixels: np.ndarray, kind: str, ink: str, size: int) -> tuple[np.ndarray | None, str]:
    """:func:`_to_glyph`, or None and why when the image is not one glyph (a photo of a whole stele or page)."""
    from glyph.data.layouts import glyph_pixels

    g = glyph_pixels(pixels, kind, ink)  # type: ignore[arg-type]
    h, w = g.shape
    rows, cols = _bands(g.mean(1)), _bands(g.mean(0))
    if min(h, w) >= 4 * size and rows >= MANY_GLYPHS and cols >= MANY_GLYPHS:
        return None, (f"looks like a picture of many characters ({rows} lines of {cols}), not one glyph; crop one "
                      f"character per image (glyph data sheet slices a regular grid)")
    if max(h, w) > 3 * min(h, w):
        return None, (f"is {w}x{h} pixels, too long and thin for one glyph; crop one character per image")
    return _to_glyph(pixels, kind, ink, size), ""


def _bands(profile: np.ndarray) -> int:
    """How many separate stretches of ink a row or column profile has (gaps of at least 2 % of its length)."""
    ink = profile > max(0.02, 0.15 * float(profile.max(initial=0)))
    gap = max(2, len(profile) // 50)
    bands, run = 0, gap
    for on in ink:
        if on:
            if run >= gap:
                bands += 1
            run = 0
        else:
            run += 1
    return bands


def _to_glyph(pixels: np.ndarray, kind: str, ink: str, size: int) -> np.ndarray:
    """An image from :func:`glyph.imageio.read_image` -> float [size, size] in [0, 1] with 1 = ink."""
    from PIL import Image

    from glyph.data.layouts import glyph_pixels

    g = glyph_pixels(pixels, kind, ink)  # type: ignore[arg-type]
    im = Image.fromarray((np.clip(g, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(im, np.float32) / 255
