"""Writing: dsfgan's run verb and ``write`` API, from a folder of a person's samples to glyphs, a preview and a font.

The path a person's samples take: the references are read and normalised (``glyph.data.refs``); with
``--geometry`` the hand's habits (slant, aspect, rotation) are measured on the ones named after their character
(``glyph.geometry``); with ``--adapt`` the generator is fine-tuned to the writer (``adapt.py``); then every
template, given the measured habits, is written by the generator folded for inference (``fused.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import torch

from glyph import GlyphError, Opt, RunContext

from .model import to_input

if TYPE_CHECKING:
    from PIL import Image

    from glyph.geometry import GeometryFit

DEMO_TEXT = "永和九年，岁在癸丑，暮春之初，会于会稽山阴之兰亭。"
MAX_REFS = 64  # references the style encoder reads at most (--n-refs)
CALIBRATE_SAMPLES = 64  # named samples the geometry is measured and calibrated on (each fit's time grows with them)
MAX_SAMPLES = 512  # named samples --adapt and --geometry learn from at most (a few 300-character sheets)
RECOMMENDED = (4, 16)

# Templates per generator pass at inference. On a CPU a small batch keeps the 64 px feature maps in cache:
# 16 wrote 3x the characters/s of 128 on the 2-core development machine (fp32, channels_last).
STYLIZE_BATCH = {"cpu": 16, "accelerator": 128}


class Writing:
    """The writing half of :class:`~glyph.plugins.dsfgan.method.DSFGAN` (a mixin: it uses the method's networks,
    config, precision and the adaptation of ``adapt.Adapting``)."""

    nets: dict[str, torch.nn.Module]
    config: Any
    precision: str

    def _device(self) -> torch.device:
        return next(self.nets["G"].parameters()).device

    @torch.no_grad()
    def stylize(self, refs: torch.Tensor | None, templates: torch.Tensor, batch: int | None = None,
                progress: Callable[[int, int], None] | None = None,
                geometry: GeometryFit | None = None) -> torch.Tensor:
        """Glyphs of ``templates`` in the style of ``refs`` (or of the adapted writer, when one is in use).

        :param refs: uint8 ``[K, 1, 64, 64]`` (255 = ink), one writer's references; ignored (may be None)
            after :meth:`adapt` or :meth:`use_writer`, whose learned style vectors stand for them.
        :param templates: uint8 ``[N, 1, 64, 64]``, the standard-font glyphs to write.
        :param batch: templates per forward pass; None: ``STYLIZE_BATCH`` for the device.
        :param progress: called with (glyphs done, total) after each batch.
        :param geometry: a writer's habits (:func:`glyph.geometry.measure_writer`) given to every template before
            it is written, so that the glyphs lean, stretch and turn as the writer's do.
        :returns: floats ``[N, 1, 64, 64]`` in [0, 1], 1 = ink.
        """
        g = self.nets["G"].eval()
        dev = self._device()
        batch = batch or STYLIZE_BATCH["cpu" if dev.type == "cpu" else "accelerator"]
        writer = getattr(self, "_writer", None)
        if writer is not None:
            glob, detail = writer.glob.to(dev), writer.detail.to(dev)
        elif refs is None:
            raise GlyphError("stylize needs references (or an adapted writer)")
        else:
            glob, detail, _ = g.encode_style(to_input(refs).unsqueeze(0).to(dev))
        from glyph.threads import ThreadTuner

        if geometry is not None:
            from glyph.geometry import warp

            templates = warp(templates, geometry.geometry(len(templates)), paper=0.0)
        fused = self._fused_generator()
        style = fused.style(glob, detail)
        out = []
        # Fewer threads while another program keeps a core busy (glyph.threads).
        with ThreadTuner(active=dev.type == "cpu") as tune:
            for i in range(0, len(templates), batch):
                img = fused(to_input(templates[i:i + batch]).to(dev), style)
                out.append(img.float().add(1).div(2).clamp(0, 1).cpu())
                tune.step()
                if progress is not None:
                    progress(min(i + batch, len(templates)), len(templates))
        return torch.cat(out) if out else torch.zeros(0, 1, 64, 64)

    def _fused_generator(self) -> Any:
        """The generator folded for writing (``fused.py``) in the precision writing uses, rebuilt whenever a weight
        or running statistic of the generator changed since it was folded (training, adapting, another writer)."""
        from .fused import FusedGenerator

        g = self.nets["G"]
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision, torch.float32)
        # Every in-place change of a tensor (an optimiser step, load_adapted's copy_) bumps its version counter.
        key = (dtype, *((id(t), t._version) for t in (*g.parameters(), *g.buffers())))
        if getattr(self, "_fused_key", None) != key:
            self._fused, self._fused_key = FusedGenerator(g.eval(), dtype), key
        return self._fused

    def run(
        self,
        ctx: RunContext,
        *,
        refs: Annotated[str | None, Opt("folder of the writer's glyph photos or scans, each named after its "
                                        "character (or example:handwriting)")] = None,
        text: Annotated[str | None, Opt("the text to write (default: a short demo text)")] = None,
        charset: Annotated[str | None, Opt("write a whole charset instead: gb2312-1, gb2312, common-500...")] = None,
        chars_file: Annotated[Path | None, Opt("write the characters of this UTF-8 text file")] = None,
        n_refs: Annotated[int, Opt("use at most this many references (1-64)")] = 16,
        adapt: Annotated[bool, Opt("first fine-tune to this writer on the references named after their character "
                                   "(about 30 s for 8 on a 2-core CPU): the largest gain in likeness")] = False,
        geometry: Annotated[bool, Opt("measure the hand's slant, proportions and turn on the references named after "
                                      "their character (4 or more) and write every character with them")] = False,
        save_writer: Annotated[Path | None, Opt("with --adapt: keep the adapted writer in this folder, to write "
                                                "more later with --writer and no waiting")] = None,
        writer: Annotated[Path | None, Opt("write in a hand saved with --save-writer (instead of --refs)")] = None,
        out: Annotated[Path, Opt("folder for one PNG per character", short="-o")] = Path("dsfgan-out"),
        sheet: Annotated[Path | None, Opt("typeset preview of the text (default: OUT/preview.png)")] = None,
        columns: Annotated[int, Opt("characters per line of the preview")] = 12,
        font: Annotated[Path | None, Opt("also build an installable font of the characters (.otf or .ttf)")] = None,
        font_name: Annotated[str | None, Opt("family name of --font (default: the references' folder name)")] = None,
    ) -> None:
        """Write characters in the hand of the writer whose samples are in --refs."""
        from glyph.data.charsets import load_charset
        from glyph.data.refs import NAMING_HINT
        from glyph.paths import char_file_name, check_output_dir, check_output_file, inside

        if writer is not None and (refs is not None or adapt or geometry):
            raise GlyphError("--writer already holds an adapted hand (and its measured geometry): give it alone, "
                             "without --refs, --adapt or --geometry")
        if save_writer is not None and not adapt:
            raise GlyphError("--save-writer keeps what --adapt learns: add --adapt (and named --refs)")
        if refs is None and writer is None:
            raise GlyphError(f"dsfgan needs --refs FOLDER: a folder with one photo or scan per character of the "
                             f"writer to imitate (any file names; {NAMING_HINT} to keep track); 4 to 16 samples work "
                             f"best (try --refs example:handwriting)")
        if not 1 <= n_refs <= MAX_REFS:
            raise GlyphError(f"--n-refs must be between 1 and {MAX_REFS}, got {n_refs}")
        if columns < 1:
            raise GlyphError(f"--columns must be at least 1, got {columns}")
        if font is not None and Path(font).suffix.lower() not in (".otf", ".ttf"):
            raise GlyphError(f"--font {font}: give a .otf (CFF outlines) or .ttf (TrueType outlines) file name")
        if refs is not None and not refs.startswith("example:") and \
                Path(out).expanduser().resolve() == Path(refs).expanduser().resolve():
            # The glyphs are named after their characters, as the references are: they would replace them.
            raise GlyphError(f"--out {out} is the --refs folder; choose another folder so the references are not "
                             f"overwritten")
        # Every output is checked before the work (a minute of adapting must not end in "cannot write").
        check_output_dir(out, "--out", new=False)
        if font is not None:
            check_output_file(font, "--font")
        if sheet is not None:
            check_output_file(sheet, "--sheet", image=True)
        if save_writer is not None:
            check_output_dir(save_writer, "--save-writer")
        given = [x is not None for x in (text, charset, chars_file)]
        if sum(given) > 1:
            raise GlyphError("give only one of --text, --charset and --chars-file")
        if charset is not None:
            text = "".join(load_charset(charset).chars)
        elif chars_file is not None:
            try:
                # A regular file only: a FIFO would wait forever and /dev/zero would never end.
                if not Path(chars_file).is_file():
                    raise GlyphError(f"--chars-file {chars_file} is not a file; give a UTF-8 text file of the "
                                     f"characters to write")
                text = Path(chars_file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise GlyphError(f"cannot read --chars-file {chars_file}: {getattr(e, 'strerror', None) or e}; "
                                 f"give a UTF-8 text file") from None
        elif text is None:
            text = DEMO_TEXT
            ctx.note(f"no --text given: writing the demo text {DEMO_TEXT}")

        glyphs = self._write(ctx, text, refs, n_refs, adapt, save_writer, writer, geometry)
        for ch, img in glyphs.items():
            ctx.save_image(inside(out, char_file_name(ch)), img)
        from glyph.typeset import typeset_text

        ctx.save_image(sheet or Path(out) / "preview.png", typeset_text(text, glyphs, columns))
        if font is not None:
            from glyph.font import build_font

            family = font_name or Path(str(refs).split(":")[-1]).name.replace("_", " ").title() or "My Hand"
            report = build_font({ch: 1.0 - img for ch, img in glyphs.items()}, font, family,
                                progress=lambda done, total: ctx.advance("building the font", done, total))
            for ch, why in report.skipped:
                ctx.skip(ch, f"not in the font: {why}")
            ctx.report.written.append(Path(font))
            ctx.note(f"font '{family}' with {len(report.chars)} glyphs: install it with glyph font install {font}")

    def write(self, refs: str | Path | None, text: str, *, n_refs: int = 16, adapt: bool = False,
              writer: str | Path | None = None, save_writer: str | Path | None = None, seed: int | None = None,
              geometry: bool = False, ctx: RunContext | None = None) -> dict[str, Image.Image]:
        """Write ``text`` in the hand of the writer whose samples are in the folder ``refs``: one image per
        distinct CJK character, dark ink on white (mode ``L``, 64 px), keyed by the character.

        :param refs: a folder of the writer's glyph photos or scans (``example:handwriting`` for the bundled one);
            files named after their character (``永.jpg``, ``U+6C38.png``) are what ``adapt`` learns from.
        :param adapt: first fine-tune to this writer on the named references (the largest gain in likeness);
            the model is back to its base weights afterwards.
        :param writer: instead of ``refs``, a folder saved by ``save_writer`` (or ``glyph run dsfgan --adapt
            --save-writer``).
        :param save_writer: with ``adapt``, keep the adapted writer in this new folder, to write more later with
            ``writer=`` and no waiting (listed in ``ctx.report.written``).
        :param seed: which references are drawn when there are more than ``n_refs``, and the adaptation's seed.
        :param geometry: measure the writer's slant, aspect and rotation on the named references (at least
            ``glyph.geometry.MIN_SAMPLES``) and give every template those habits before writing (and adapting);
            the measured habits are in ``ctx.report.numbers`` and kept with a saved writer.
        :param ctx: collects what was skipped and why, and notes (``ctx.report``); a fresh one when None.
        """
        from glyph.imageio import to_pil

        if writer is not None and (refs is not None or adapt or geometry):
            raise GlyphError("writer already holds an adapted hand (and its measured geometry): give it alone, "
                             "without refs, adapt or geometry")
        if refs is None and writer is None:
            raise GlyphError("write needs refs: a folder with one photo or scan per character of the writer")
        if save_writer is not None and not adapt:
            raise GlyphError("save_writer keeps what adapt learns: add adapt=True (and references named after "
                             "their character)")
        if not 1 <= n_refs <= MAX_REFS:
            raise GlyphError(f"n_refs must be between 1 and {MAX_REFS}, got {n_refs}")
        if save_writer is not None:
            from glyph.paths import check_output_dir

            check_output_dir(save_writer, "save_writer")
        ctx = ctx or RunContext(seed=seed)
        if seed is not None:
            ctx.seed = seed
        keep = None if save_writer is None else Path(save_writer)
        glyphs = self._write(ctx, text, None if refs is None else str(refs), n_refs, adapt, keep,
                             None if writer is None else Path(writer), geometry)
        return {ch: to_pil(img) for ch, img in glyphs.items()}

    def _write(self, ctx: RunContext, text: str, refs: str | None, n_refs: int, adapt: bool,
               save_writer: Path | None, writer: Path | None, geometry: bool = False) -> dict[str, np.ndarray]:
        """The glyphs of ``text``'s CJK characters as display arrays (floats, 1 = paper), in text order."""
        from glyph.data.charsets import is_cjk
        from glyph.data.templates import PUNCTUATION, template_glyphs

        from . import adapt as A

        wanted: list[str] = []
        for ch in text:
            if ch.isspace() or ch in PUNCTUATION:
                continue
            if not is_cjk(ch):
                ctx.skip(repr(ch), "not a CJK ideograph; dsfgan writes hanzi/kanji only (Latin letters, digits, "
                                   "kana and emoji are left out)")
                continue
            if ch not in wanted:
                wanted.append(ch)
        templates = template_glyphs(wanted)
        for ch in templates.missing:
            ctx.skip(ch, "the template font (Noto Sans CJK SC) has no glyph for it, so there is nothing to imitate")
        todo = [ch for ch in wanted if ch in templates.glyphs]
        if not todo:
            raise GlyphError("nothing to write: the text has no CJK character the template font covers; give "
                             "a text with Chinese or Japanese characters")
        images = torch.zeros(0, 1, 64, 64, dtype=torch.uint8)
        habits: GeometryFit | None = None
        if writer is not None:
            saved = A.load_writer(Path(writer), A.base_id(self.nets["G"]))
            self.use_writer(saved)
            habits = saved.geometry
            ctx.note(f"writing in the hand saved in {writer} (adapted on {len(saved.chars)} references: "
                     f"{saved.chars}{'; ' + habits.describe() if habits is not None else ''})")
        else:
            samples, chars, style_rows = self._references(ctx, str(refs), n_refs)
            if geometry:
                habits = self._measure_geometry(ctx, samples, chars, samples[style_rows])
            if adapt:
                self._adapt_to(ctx, samples, chars, save_writer, habits)
            images = samples[style_rows]
        t = torch.from_numpy(np.stack([templates.glyphs[ch] for ch in todo])).unsqueeze(1)
        try:
            result = self.stylize(images, t, progress=lambda done, total: ctx.advance("writing", done, total),
                                  geometry=habits)
        except (torch.OutOfMemoryError, RuntimeError) as e:
            if "memory" not in str(e).lower():
                raise
            raise GlyphError(f"out of memory with {len(images)} references; lower --n-refs (8 is plenty) or use "
                             f"--device cpu") from None
        finally:
            self.reset_adaptation()
        shown = 1.0 - result[:, 0].numpy()
        ctx.report.numbers["characters"] = float(len(todo))
        ctx.report.numbers["references"] = float(len(images))
        return dict(zip(todo, shown, strict=True))

    def _measure_geometry(self, ctx: RunContext, images: torch.Tensor, chars: list[str], style: torch.Tensor
                          ) -> GeometryFit | None:
        """``--geometry``: the writer's habits measured on the named references, clamped into the range the
        generator learned to follow (``warp_strength``) and calibrated through it (:func:`glyph.geometry.calibrate`:
        the habits it is given are corrected by what it wrote of the references' characters, in the style of
        ``style``); None, with a note, when too few references are named."""
        from glyph.geometry import MIN_SAMPLES, calibrate, measure, named_pairs

        pairs = named_pairs(images, chars)
        if pairs is None:
            ctx.note(f"--geometry needs at least {MIN_SAMPLES} references named after their character (永.jpg, "
                     f"U+6C38.png, or cut by glyph data sheet); writing with the template's geometry")
            return None
        templates, samples = pairs[0][:CALIBRATE_SAMPLES], pairs[1][:CALIBRATE_SAMPLES]
        fit = measure(templates, samples)
        trained = self.config.warp_share > 0
        strength = self.config.warp_strength if trained else 1.0
        habits, report = calibrate(fit, lambda t: self.stylize(style, t), templates, strength)
        shown = fit.within(strength)
        ctx.note(f"measured the hand on {fit.samples} references: {fit.describe()}"
                 + ("" if shown == fit else f" (written as {shown.describe()}: the most these weights learned)"))
        if not trained:
            ctx.note("these weights learned from upright templates only (warp_share 0): a leaning template may "
                     "come out with broken strokes; check the glyphs, or write without --geometry")
        for key in ("slant", "aspect", "rotation"):
            ctx.report.numbers[f"measured_{key}"] = round(getattr(fit, key), 3)
            ctx.report.numbers[f"given_{key}"] = round(getattr(habits, key), 3)
        ctx.report.numbers["geometry_mismatch"] = round(min(report["mismatch_before"], report["mismatch_after"]), 4)
        if fit.flow is not None:  # the proportions: measured only on enough samples that agree (glyph.geometry)
            ctx.report.numbers["measured_flow_px"] = round(fit.moved_px(), 2)
        return habits

    def _references(self, ctx: RunContext, refs: str, n_refs: int) -> tuple[torch.Tensor, list[str], list[int]]:
        """The writer's usable references (``run``'s --refs): uint8 ``[K, 1, 64, 64]``, each one's character (''
        when its file is not named after one), and which of them (at most ``n_refs``) the style encoder reads;
        ``--geometry`` and ``--adapt`` learn from every named one."""
        from glyph.data.charsets import is_cjk
        from glyph.data.refs import load_references
        from glyph.resources import resolve_input

        ref_set = load_references(resolve_input(refs), size=64, require_names=False)  # style needs no names
        for path, why in ref_set.skipped:
            ctx.skip(path, why)
        keep = []
        for i, ch in enumerate(ref_set.chars):
            if ch and not is_cjk(ch):  # kana, Hangul: glyph learned hands from hanzi/kanji only
                ctx.skip(ref_set.files[i], f"{ch} is not a CJK ideograph; dsfgan reads a hand from hanzi/kanji "
                                           f"samples only, so this one is left out")
            else:
                keep.append(i)
        if not keep:
            raise GlyphError("no reference shows a CJK ideograph; give photos of hanzi/kanji written by the person")
        if len(keep) > MAX_SAMPLES:
            g = torch.Generator().manual_seed(ctx.seed if ctx.seed is not None else 0)
            keep = sorted(keep[i] for i in torch.randperm(len(keep), generator=g)[:MAX_SAMPLES].tolist())
            ctx.note(f"{len(ref_set.files)} references found; learning from {MAX_SAMPLES} of them (more take "
                     f"longer and add little)")
        chosen = keep
        if len(chosen) > n_refs:
            g = torch.Generator().manual_seed(ctx.seed if ctx.seed is not None else 0)
            chosen = sorted(chosen[i] for i in torch.randperm(len(chosen), generator=g)[:n_refs].tolist())
            ctx.note(f"{len(keep)} references found; the style is read from {n_refs} of them (--n-refs), "
                     f"--adapt and --geometry learn from every one named after its character")
        used = [Path(ref_set.files[i]).name for i in chosen]
        ctx.note(f"references used ({len(used)}): {', '.join(used)}")
        if len(used) < RECOMMENDED[0]:
            ctx.note(f"only {len(used)} reference{'s' * (len(used) != 1)}: the style is guessed from little; "
                     f"{RECOMMENDED[0]}-{RECOMMENDED[1]} samples of varied characters give the best likeness "
                     f"(see docs/methods/dsfgan.md for measured accuracy by count)")
        named = sorted({ref_set.chars[i] for i in chosen if ref_set.chars[i]})
        if len(chosen) > 1 and len(named) == 1 and all(ref_set.chars[i] for i in chosen):
            ctx.note(f"all {len(chosen)} references show {named[0]}: one character says little about a hand; "
                     f"samples of different characters give a better likeness")
        images = torch.from_numpy(ref_set.images[keep]).unsqueeze(1)
        position = {row: i for i, row in enumerate(keep)}
        return images, [ref_set.chars[i] or "" for i in keep], [position[row] for row in chosen]
