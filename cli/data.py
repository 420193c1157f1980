"""``glyph data``: fonts, rendering, packing, previewing, reference photos and damage."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import closing
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from glyph.errors import GlyphError

from .console import STATE, TaskBars, err, info, out, warn
from .options import COUNT, SHARE, SIZE, bounded

app = typer.Typer(help="Datasets: fonts, render, synth, pack, merge, show, refs, sheet, geometry, damage.",
                  no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]})


class Fit(StrEnum):
    box = "box"
    em = "em"


class Ink(StrEnum):
    auto = "auto"
    dark = "dark"
    light = "light"


def _report_skipped(skipped: list, limit: int = 20) -> None:
    for path, why in skipped[:limit]:
        warn(f"skipped {path}: {why}")
    if len(skipped) > limit:
        warn(f"... and {len(skipped) - limit} more skipped files")


@app.command("fonts")
def fonts(
    font: list[str] = typer.Option(None, "--font", help="only these fonts: PATH[:FACE], a corpus id or family name"),
    all_: bool = typer.Option(False, "--all", help="also list fonts with no CJK coverage"),
    sources: bool = typer.Option(False, "--sources", help="only the corpus's packages and what is missing"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List usable CJK fonts with their coverage of gb2312-1, gb2312 and jis-1 (cmap and rendered ink)."""
    from glyph.data.coverage import CHARSETS, coverage_rows
    from glyph.data.fonts import discover_fonts, parse_font_specs, unreadable_files

    if sources:
        _print_sources(json_out)
        return
    faces = parse_font_specs(font) if font else discover_fonts()
    for f in faces:
        for path, why in unreadable_files(f):
            warn(f"{f.label}: cannot open {path.name} ({why}); the characters it holds count as missing")
    with err.status("checking coverage (cmap and rendered ink; cached after the first run)"):
        rows = coverage_rows(faces, cjk_only=not all_ and not font)
    if json_out:
        out.print_json(json.dumps(rows, ensure_ascii=False))
        if not font:
            _warn_missing()
        return
    table = Table(title=f"CJK fonts ({len(rows)})", title_justify="left")
    for col in ("face", "corpus", *CHARSETS, "file"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cells = [f"{r[cs]}" + (f" (-{r['dropped_by_ink_check'][cs]})" if r["dropped_by_ink_check"][cs] else "")
                 for cs in CHARSETS]
        where = f"{r['source']} ({r['files']} files)" if r["files"] > 1 else f"{Path(r['file']).name}:{r['index']}"
        table.add_row(escape(r["face"]), (r["kind"] + (" +" if r["extra"] else "")) if r["corpus"] else "", *cells,
                      escape(where))
    out.print(table)
    out.print("Counts are usable characters; (-N): in the cmap but blank or tofu when rendered. Only corpus fonts "
              "may be used for training (see docs/data.md); +: opt-in, `--fonts corpus-all`.")
    if not font:
        _print_sources(False)


def _print_sources(json_out: bool) -> None:
    """The corpus's packages (Debian and npm, default and opt-in), what of each is installed, how to get the rest."""
    from glyph.data.fonts import corpus_sources, setup_command

    srcs = corpus_sources()
    if json_out:
        out.print_json(json.dumps([{"source": s.name, "kind": s.kind, "extra": s.extra, "faces": len(s.faces),
                                    "installed": s.installed, "get": setup_command(s.faces[0])} for s in srcs]))
        _warn_missing()
        return
    table = Table(title=f"Corpus sources ({len(srcs)})", title_justify="left")
    for col in ("source", "kind", "set-up", "faces installed"):
        table.add_column(col, overflow="fold")
    for s in srcs:
        table.add_row(escape(s.name), s.kind, "opt-in" if s.extra else "default",
                      f"{s.installed}/{len(s.faces)}" + ("" if s.installed == len(s.faces)
                                                        else f"  missing: {setup_command(s.faces[0])}"))
    out.print(table)
    faces = [f for s in srcs for f in s.faces]
    out.print(f"Corpus faces installed: {sum(f.installed for f in faces)} of {len(faces)} "
              f"({sum(not f.extra for f in faces)} default, {sum(f.extra for f in faces)} opt-in).")
    _warn_missing()


def _warn_missing() -> None:
    """One line per set-up command that would bring missing corpus sources."""
    from glyph.data.fonts import missing_sources

    for command, names in missing_sources().items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        warn(f"{len(names)} corpus source(s) missing ({shown}); get them with `{command}`")


@app.command("render")
def render(
    out_path: Path = typer.Option(..., "--out", "-o", help="a .safetensors(.gz) file or a new folder"),
    fonts_: str = typer.Option("corpus", "--fonts", help="corpus, corpus ids, PATH[:FACE] or family names, comma "
                               "separated"),
    charset: str = typer.Option("gb2312-1", help="gb2312-1, gb2312, jis-1, common-N, a text file or characters"),
    size: int = typer.Option(64, help="canvas size in pixels", callback=SIZE),
    margin: float = typer.Option(0.06, help="margin on each side, as a fraction of the size"),
    fit: Fit = typer.Option(Fit.box, help="box: fill the box with the glyph's ink; em: keep size relative to the em"),
    layout: str = typer.Option(None, help="folder layout (default writers); ignored for .safetensors"),
    unseen_chars: float = typer.Option(0.1, help="share of characters held out as unseen (recorded in metadata)",
                                      callback=SHARE),
    unseen_writers: float = typer.Option(0.0, help="share of fonts held out as unseen writers (never the template "
                                         "face, corpus.toml's standard_content)", callback=SHARE),
    split_seed: int = typer.Option(0, help="seed of the split"),
    hold_out: str = typer.Option("", help="faces always held out as unseen writers besides the share: corpus ids "
                                 "or kind:KIND (kind:pen,kind:brush: the handwriting faces), comma separated"),
) -> None:
    """Render a charset with fonts into a dataset (one writer per face), on all cores."""
    from glyph.data.render import render_and_save

    with closing(TaskBars()) as bars:
        r = render_and_save(out_path, fonts_, charset, size, margin, fit.value, layout, unseen_chars, unseen_writers,
                            split_seed, progress=lambda done, total: bars("rendering", done, total),
                            hold_out=[h for h in hold_out.split(",") if h.strip()])
    for f in r.faces:
        if f.dropped:
            info(f"{f.face.label}: {len(f.chars)} glyphs; dropped " +
                 ", ".join(f"{len(v)} {k}" for k, v in f.dropped.items()))
    info(f"rendered {len(r.data)} glyphs in {r.seconds:.1f} s ({len(r.data) / max(r.seconds, 1e-9):.0f} glyphs/s); "
         f"wrote {out_path}")


@app.command("synth")
def synth(
    out_path: Path = typer.Option(..., "--out", "-o", help="a .safetensors(.gz) file or a new folder"),
    writers: int = typer.Option(..., "--writers", "-n", help="how many synthetic writers", callback=COUNT),
    charset: str = typer.Option("gb2312-1", help="gb2312-1, gb2312, jis-1, common-N, a text file or characters"),
    seed: int = typer.Option(0, help="seed of the writers (same seed, same writers and glyphs)"),
    first_writer: int = typer.Option(0, help="index of the first writer: shards of a large set, e.g. 0, 250, 500",
                                      callback=bounded(0)),
    size: int = typer.Option(64, help="canvas size in pixels", callback=SIZE),
    margin: float = typer.Option(0.06, help="margin on each side, as a fraction of the size"),
    strokes: Path = typer.Option(None, help="hanzi-writer-data folder (default: glyph's cache, filled by "
                                 "`bash .ci/setup --corpus-extra`)"),
    layout: str = typer.Option(None, help="folder layout (default writers); ignored for .safetensors"),
    unseen_chars: float = typer.Option(0.1, help="share of characters held out as unseen (recorded in metadata)",
                                      callback=SHARE),
    unseen_writers: float = typer.Option(0.1, help="share of synthetic writers held out as unseen", callback=SHARE),
    split_seed: int = typer.Option(0, help="seed of the split"),
) -> None:
    """Draw a charset by procedural pen writers (stroke data from hanzi-writer-data), on all cores."""
    from glyph.data.synth import synth_and_save

    with closing(TaskBars()) as bars:
        r = synth_and_save(out_path, writers, charset, seed, first_writer, size, margin, strokes, layout, unseen_chars,
                           unseen_writers, split_seed, progress=lambda done, total: bars("drawing", done, total))
    if r.missing:
        shown = "".join(r.missing[:20]) + (f" and {len(r.missing) - 20} more" if len(r.missing) > 20 else "")
        warn(f"skipped {len(r.missing)} of {len(r.charset)} characters with no stroke data: {shown}")
    info(f"drew {len(r.data)} glyphs ({writers} writers x {len(r.charset) - len(r.missing)} characters; unseen: "
         f"{len(r.splits['unseen_writers'])} writers, {len(r.splits['unseen_chars'])} characters) in "
         f"{r.seconds:.1f} s ({len(r.data) / max(r.seconds, 1e-9):.0f} glyphs/s); wrote {out_path}")


@app.command("pack")
def pack(
    src: str = typer.Argument(..., help="dataset folder (any layout), packed file, or 'embedded'"),
    out_path: Path = typer.Argument(..., help="output .safetensors or .safetensors.gz"),
    layout: str = typer.Option(None, help="layout of SRC (default: detected): writers, styles, classes, flat"),
    size: int = typer.Option(None, help="resize to this square size (default: keep a common square size, else 64)",
                              callback=SIZE),
    ink: Ink = typer.Option(Ink.auto, help="ink polarity of the files: dark on light, light on dark, or auto"),
    channels: int = typer.Option(None, help="1 (glyphs) or 3 (colour); default: detected for flat folders",
                                  callback=bounded(1, 3)),
    unseen_chars: float = typer.Option(None, help="recompute the split: share of unseen characters", callback=SHARE),
    unseen_writers: float = typer.Option(None, help="recompute the split: share of unseen writers", callback=SHARE),
    split_seed: int = typer.Option(0, help="seed of a recomputed split"),
) -> None:
    """Convert any dataset into one packed file that loads in a fraction of a second."""
    from glyph.data.sources import pack_dataset

    data = pack_dataset(src, out_path, layout, size, ink.value, channels, unseen_chars, unseen_writers, split_seed,
                        option="OUT")
    _report_skipped(data.meta.get("skipped", []))
    info(f"packed {len(data)} images {tuple(data.images.shape[1:])} with labels "
         f"{', '.join(data.labels) or 'none'} into {out_path}")


@app.command("merge")
def merge(
    sources: list[str] = typer.Argument(..., help="two or more writers datasets: packed files, folders"),
    out_path: Path = typer.Option(..., "--out", "-o", help="output .safetensors or .safetensors.gz"),
) -> None:
    """One writers dataset from several (real faces and synthetic writers): characters matched by character,
    each writer's source and every source's unseen splits kept."""
    from glyph.data.merge import merge_files, writer_sources

    data = merge_files(sources, out_path)
    counts = Counter(writer_sources(data).values())
    info(f"merged {len(data)} glyphs of {len(data.classes['char'])} characters by "
         f"{', '.join(f'{n} {s}' for s, n in counts.items())} writers "
         f"({len(data.meta['splits']['unseen_writers'])} unseen) into {out_path}")


@app.command("show")
def show(
    src: str = typer.Argument(..., help="dataset folder, packed file, or 'embedded'"),
    out_path: Path = typer.Option(..., "--out", "-o", help="grid image to write (.png)"),
    n: int = typer.Option(64, help="how many images", callback=bounded(1, 100_000)),
    cols: int = typer.Option(None, help="images per row (default: square)", callback=bounded(1, 10_000)),
    writer: str = typer.Option(None, help="only this writer / style"),
    layout: str = typer.Option(None, help="layout of SRC (default: detected)"),
    seed: int = typer.Option(None, help="random sample with this seed (default: the first N)"),
) -> None:
    """Draw a grid of a dataset's images (glyphs dark on white)."""
    from glyph.data.sources import write_preview

    shown, total = write_preview(src, out_path, n, cols, writer, layout, seed if seed is not None else STATE.seed)
    info(f"wrote {out_path} ({shown} of {total} images)")


@app.command("refs")
def refs(
    folder: Path = typer.Argument(..., help="photos or scans, each named after its character (永.png, U+6C38.png)"),
    out_path: Path = typer.Option(..., "--out", "-o", help="new folder for the clean references"),
    size: int = typer.Option(64, help="output size in pixels", callback=SIZE),
    ink: Ink = typer.Option(Ink.auto, help="ink polarity of the photos"),
) -> None:
    """Normalise photos of handwriting into clean references (levelled, cropped to the ink, centred)."""
    from glyph.data.refs import load_references, write_refset
    from glyph.paths import check_output_dir

    check_output_dir(out_path)
    result = load_references(folder, size=size, ink=ink.value)
    _report_skipped(result.skipped)
    n = write_refset(result, out_path)
    for f, ch in zip(result.files, result.chars, strict=True):
        info(f"used {f} as {ch}")
    info(f"wrote {n} references to {out_path}")


@app.command("sheet-template")
def sheet_template(
    out_path: Path = typer.Option(..., "--out", "-o", help="sheet.pdf (every page in one file) or sheet.png (a PNG "
                                  "per page)"),
    n: int = typer.Option(64, "--n", help="characters to write: 16, 64, 128 or 300 (any count up to 1000)"),
    charset: str = typer.Option("gb2312-1", help="gb2312-1 (simplified Chinese) or jis-1 (Japanese kanji)"),
) -> None:
    """A printable writing sheet: boxes for the characters that together show the most of a hand."""
    from glyph.data.sheets import pages_for, render_sheet, save_sheet, sheet_chars
    from glyph.paths import check_output_file

    check_output_file(out_path)
    written = save_sheet(render_sheet(n, charset), out_path)
    info(f"characters: {sheet_chars(n, charset)}")
    info(f"wrote {', '.join(map(str, written))} ({pages_for(n)} page{'s' * (pages_for(n) > 1)}): print it, write "
         f"each character in its box, photograph the pages and read them with glyph data sheet PHOTO... --out FOLDER")


@app.command("sheet")
def sheet(
    photos: list[Path] = typer.Argument(..., help="photos or scans: the pages of a glyph writing sheet, or one grid of "
                                        "handwritten characters with --text"),
    out_path: Path = typer.Option(..., "--out", "-o", help="new folder for the references"),
    text: str = typer.Option(None, help="for a sheet of your own: the characters on it, in reading order (rows, left "
                             "to right)"),
    grid: str = typer.Option(None, help="with --text: ROWSxCOLS when automatic slicing fails, e.g. 4x5"),
    size: int = typer.Option(64, help="output size in pixels", callback=SIZE),
    ink: Ink = typer.Option(Ink.auto, help="with --text: ink polarity of the photo"),
) -> None:
    """Cut photographed sheets into one clean reference per character: a glyph writing sheet (glyph data
    sheet-template) is found by its corner squares; a sheet of your own needs --text."""
    from glyph.data.refs import parse_grid, slice_sheet, write_refset
    from glyph.data.sheets import read_sheets
    from glyph.imageio import read_image
    from glyph.paths import check_output_dir

    check_output_dir(out_path)
    if text is None:
        if grid is not None:
            raise GlyphError("--grid cuts a sheet of your own: give --text with it (a glyph writing sheet needs "
                             "neither)")
        result, notes = read_sheets(photos, size=size)
        for note in notes:
            info(note)
    else:
        if len(photos) > 1:
            raise GlyphError("--text describes one sheet of your own: give one photo with it (the pages of a glyph "
                             "writing sheet need no --text)")
        shape = parse_grid(grid) if grid else None
        pixels, kind = read_image(photos[0])
        result = slice_sheet(pixels, kind, text, grid=shape, size=size, ink=ink.value, source=photos[0].name)
    _report_skipped(result.skipped)
    info(f"wrote {write_refset(result, out_path)} references to {out_path}")


@app.command("geometry")
def geometry(
    folder: Path = typer.Argument(..., help="one writer's photos or scans, each named after its character"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Measure a hand's habits (slant, aspect, rotation, size, position; its proportions from 16 samples) from
    samples named after their character."""
    from glyph.geometry import FLOW_SAMPLES, measure_folder

    fit, skipped = measure_folder(folder)
    _report_skipped(skipped)
    if json_out:
        out.print_json(json.dumps(fit.as_dict()))
        return
    info(f"measured on {fit.samples} samples: {fit.describe()}")
    table = Table("habit", "value", "meaning")
    table.add_row("slant", f"{fit.slant:+.1f}°", "vertical strokes lean right (+) or left (-)")
    table.add_row("aspect", f"{fit.aspect:.3f}", "width over height against the template font's")
    table.add_row("rotation", f"{fit.rotation:+.1f}°", "the whole glyph turned clockwise (+)")
    table.add_row("scale", f"{fit.scale:.3f}", "size in the box")
    table.add_row("shift", f"{fit.shift_x:+.3f}, {fit.shift_y:+.3f}", "position in the box (right, down; box halves)")
    if fit.flow is not None:
        table.add_row("proportions", f"up to {fit.moved_px():.1f} px of 64",
                      "parts of a character moved by one smooth warp all the samples share (flow in --json)")
    elif fit.samples < FLOW_SAMPLES:
        table.add_row("proportions", "not measured", f"needs {FLOW_SAMPLES} samples or more")
    else:
        table.add_row("proportions", "as the template's", "the samples agree on no change of proportions")
    table.add_row("explained", f"{1 - fit.residual / max(fit.residual_identity, 1e-9):.0%}",
                  "of the difference from the template the habits account for")
    out.print(table)


@app.command("damage")
def damage(
    src: str = typer.Argument(..., help="clean glyphs: dataset folder, packed file or 'embedded'"),
    out_path: Path = typer.Option(..., "--out", "-o", help="new folder: damaged/, clean/ and template/"),
    seed: int = typer.Option(0, help="seed of the damage (same seed, same damage)"),
    k: int = typer.Option(3, help="distinct wear operations per glyph", callback=bounded(0)),
    strength: float = typer.Option(1.0, help="severity (0: none, 1: default, 2: heavy)"),
    n: int = typer.Option(None, help="only the first N glyphs", callback=COUNT),
    template_font: str = typer.Option("noto-sans-sc-regular", help="font of the standard-form channel (template/); "
                                      "'none' to skip"),
    layout: str = typer.Option(None, help="layout of SRC (default: detected)"),
) -> None:
    """Write damaged/clean pairs for restoration, plus each character's standard-font rendering."""
    from glyph.data.damage import Damage, write_damage_pairs

    with closing(TaskBars()) as bars:
        r = write_damage_pairs(src, out_path, seed, Damage(k=k, strength=strength), n,
                               None if template_font == "none" else template_font, layout, progress=bars)
    if r.template_error:
        warn(f"no template/ written: {r.template_error}")
    if r.template_missing:
        warn(f"template font lacks {r.template_missing} character(s)")
    info(f"wrote {r.pairs} damaged/clean pairs to {out_path}")
