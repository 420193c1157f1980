"""``glyph data``: fonts, rendering, packing, previewing, reference photos and damage."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from glyph.errors import GlyphError
from glyph.paths import check_output_dir, check_output_file

from .console import STATE, TaskBars, err, info, out, warn
from .options import COUNT, SHARE, SIZE, bounded

app = typer.Typer(help="Datasets: fonts, render, synth, pack, merge, show, refs, sheet, damage.", no_args_is_help=True,
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
    from glyph.data.coverage import CHARSETS, coverage
    from glyph.data.fonts import discover_fonts, parse_font_specs, unreadable_files

    if sources:
        _print_sources(json_out)
        return
    faces = parse_font_specs(font) if font else discover_fonts()
    for f in faces:
        for path, why in unreadable_files(f):
            warn(f"{f.label}: cannot open {path.name} ({why}); the characters it holds count as missing")
    with err.status("checking coverage (cmap and rendered ink; cached after the first run)"):
        cov = coverage(faces)
    rows = []
    for f in faces:
        c = cov[f.spec]
        if not all_ and not font and not any(c[cs] for cs in CHARSETS):
            continue
        rows.append({"face": f.label, "family": f.family, "style": f.style, "file": str(f.path), "index": f.index,
                     "corpus": bool(f.id), "kind": f.kind, "source": f.source, "extra": f.extra,
                     "files": len(f.files), **{cs: c[cs] for cs in CHARSETS},
                     "dropped_by_ink_check": {cs: c[f"cmap:{cs}"] - c[cs] for cs in CHARSETS}})
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
    from glyph.data.fonts import corpus_sources, setup_command

    missing: dict[str, list[str]] = {}
    for s in corpus_sources():
        if s.installed < len(s.faces):
            missing.setdefault(setup_command(s.faces[0]), []).append(s.name)
    for command, names in missing.items():
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
) -> None:
    """Render a charset with fonts into a dataset (one writer per face), on all cores."""
    from glyph.data.charsets import load_charset
    from glyph.data.fonts import parse_font_specs
    from glyph.data.loader import make_splits
    from glyph.data.render import RenderSpec, render_dataset
    from glyph.data.sources import check_dataset_output, save_dataset

    check_dataset_output(out_path)
    try:
        spec = RenderSpec(size=size, margin=margin, fit=fit.value)
    except ValueError as e:
        raise GlyphError(str(e)) from None
    faces = parse_font_specs(fonts_)
    cs = load_charset(charset)
    t = time.perf_counter()
    bars = TaskBars()
    try:
        data, results = render_dataset(faces, cs, spec, progress=lambda done, total: bars("rendering", done, total))
    finally:
        bars.close()
    dt = time.perf_counter() - t
    for r in results:
        if r.dropped:
            info(f"{r.face.label}: {len(r.chars)} glyphs; dropped " +
                 ", ".join(f"{len(v)} {k}" for k, v in r.dropped.items()))
    from glyph.data.fonts import standard_content_face

    # Never the template face: few-shot evaluation needs the templates of the held-out writers' characters.
    make_splits(data, unseen_writers=unseen_writers, unseen_chars=unseen_chars, seed=split_seed,
                keep=(standard_content_face().id,))
    save_dataset(data, out_path, layout)
    info(f"rendered {len(data)} glyphs in {dt:.1f} s ({len(data) / max(dt, 1e-9):.0f} glyphs/s); wrote {out_path}")


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from glyph.data.charsets import load_charset
    from glyph.data.loader import make_splits
    from glyph.data.render import RenderSpec
    from glyph.data.sources import check_dataset_output, save_dataset
    from glyph.data.synth import synth_dataset

    check_dataset_output(out_path)
    try:
        spec = RenderSpec(size=size, margin=margin)
    except ValueError as e:
        raise GlyphError(str(e)) from None
    cs = load_charset(charset)
    t = time.perf_counter()
    with Progress(TextColumn("[bold]drawing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=STATE.quiet or not err.is_terminal) as bar:
        task = bar.add_task("synth", total=writers * len(cs))
        data, missing = synth_dataset(writers, cs, seed=seed, spec=spec, strokes=strokes, first=first_writer,
                                      progress=lambda done, total: bar.update(task, completed=done, total=total))
    dt = time.perf_counter() - t
    if missing:
        shown = "".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        warn(f"skipped {len(missing)} of {len(cs)} characters with no stroke data: {shown}")
    splits = make_splits(data, unseen_writers=unseen_writers, unseen_chars=unseen_chars, seed=split_seed)
    save_dataset(data, out_path, layout)
    n_chars = len(cs) - len(missing)
    info(f"drew {len(data)} glyphs ({writers} writers x {n_chars} characters; unseen: "
         f"{len(splits['unseen_writers'])} writers, {len(splits['unseen_chars'])} characters) in {dt:.1f} s "
         f"({len(data) / max(dt, 1e-9):.0f} glyphs/s); wrote {out_path}")


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
    from glyph.data.loader import make_splits
    from glyph.data.packed import is_packed
    from glyph.data.sources import open_dataset, save_dataset

    if not is_packed(out_path):
        raise GlyphError(f"OUT must end in .safetensors or .safetensors.gz, got {out_path.name}")
    check_output_file(out_path, "OUT")
    data = open_dataset(src, layout, size=size, ink=ink.value, channels=channels)
    _report_skipped(data.meta.get("skipped", []))
    if unseen_chars is not None or unseen_writers is not None:
        keep = (data.meta["template_writer"],) if "template_writer" in data.meta else ()
        make_splits(data, unseen_writers or 0.0, unseen_chars or 0.0, split_seed, keep=keep)
    save_dataset(data, out_path)
    info(f"packed {len(data)} images {tuple(data.images.shape[1:])} with labels "
         f"{', '.join(data.labels) or 'none'} into {out_path}")


@app.command("merge")
def merge(
    sources: list[str] = typer.Argument(..., help="two or more writers datasets: packed files, folders"),
    out_path: Path = typer.Option(..., "--out", "-o", help="output .safetensors or .safetensors.gz"),
) -> None:
    """One writers dataset from several (real faces and synthetic writers): characters matched by character,
    each writer's source and every source's unseen splits kept."""
    from glyph.data.merge import merge_datasets, writer_sources
    from glyph.data.packed import is_packed
    from glyph.data.sources import open_dataset, save_dataset

    if not is_packed(out_path):
        raise GlyphError(f"--out must end in .safetensors or .safetensors.gz, got {out_path.name}")
    if out_path.exists():
        raise GlyphError(f"{out_path} exists; choose a new file so nothing is overwritten")
    check_output_file(out_path)
    data = merge_datasets([(Path(src).name.split(".")[0] or src, open_dataset(src)) for src in sources])
    save_dataset(data, out_path)
    counts: dict[str, int] = {}
    for source in writer_sources(data).values():
        counts[source] = counts.get(source, 0) + 1
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
    import torch

    from glyph.data.sources import open_dataset
    from glyph.grid import glyphs_for_display, tile
    from glyph.imageio import write_image

    check_output_file(out_path, image=True)
    data = open_dataset(src, layout)
    rows = torch.arange(len(data))
    if writer is not None:
        if "writer" not in data.labels or writer not in data.classes["writer"]:
            known = ", ".join(data.classes.get("writer", [])[:20]) or "none"
            raise GlyphError(f"no writer '{writer}' in {src}; writers: {known}")
        rows = torch.nonzero(data.labels["writer"] == data.classes["writer"].index(writer)).flatten()
    if seed is not None or STATE.seed is not None:
        g = torch.Generator().manual_seed(seed if seed is not None else STATE.seed)
        rows = rows[torch.randperm(len(rows), generator=g)]
    rows = rows[:max(1, n)]
    picture = tile(glyphs_for_display(data.images[rows].numpy(), data.meta.get("ink", "glyph")), cols)
    write_image(out_path, picture)
    info(f"wrote {out_path} ({len(rows)} of {len(data)} images)")


def _write_refset(refs, out_dir: Path) -> int:
    """Write normalised references as ``<char>.png`` (``<char>_2.png`` for further samples), dark on white."""
    import numpy as np

    from glyph.imageio import write_image
    from glyph.paths import inside, safe_name

    check_output_dir(out_dir)
    counts: dict[str, int] = {}
    for img, ch in zip(refs.images, refs.chars, strict=True):
        counts[ch] = counts.get(ch, 0) + 1
        # The character comes from the user's text or file names: '/' or '.' must not leave the folder.
        name = safe_name(ch) if counts[ch] == 1 else f"{safe_name(ch)}_{counts[ch]}"
        write_image(inside(out_dir, f"{name}.png"), 1.0 - img.astype(np.float32) / 255.0)
    return len(refs.chars)


@app.command("refs")
def refs(
    folder: Path = typer.Argument(..., help="photos or scans, each named after its character (永.png, U+6C38.png)"),
    out_path: Path = typer.Option(..., "--out", "-o", help="new folder for the clean references"),
    size: int = typer.Option(64, help="output size in pixels", callback=SIZE),
    ink: Ink = typer.Option(Ink.auto, help="ink polarity of the photos"),
) -> None:
    """Normalise photos of handwriting into clean references (levelled, cropped to the ink, centred)."""
    from glyph.data.refs import load_references

    check_output_dir(out_path)
    result = load_references(folder, size=size, ink=ink.value)
    _report_skipped(result.skipped)
    n = _write_refset(result, out_path)
    for f, ch in zip(result.files, result.chars, strict=True):
        info(f"used {f} as {ch}")
    info(f"wrote {n} references to {out_path}")


@app.command("sheet")
def sheet(
    photo: Path = typer.Argument(..., help="one photo or scan of a grid of handwritten characters"),
    text: str = typer.Option(..., help="the characters on the sheet, in reading order (rows, left to right)"),
    out_path: Path = typer.Option(..., "--out", "-o", help="new folder for the references"),
    grid: str = typer.Option(None, help="ROWSxCOLS when automatic slicing fails, e.g. 4x5"),
    size: int = typer.Option(64, help="output size in pixels", callback=SIZE),
    ink: Ink = typer.Option(Ink.auto, help="ink polarity of the photo"),
) -> None:
    """Slice a photographed sheet of characters into one clean reference per character."""
    from glyph.data.refs import parse_grid, slice_sheet
    from glyph.imageio import read_image

    check_output_dir(out_path)
    shape = parse_grid(grid) if grid else None
    pixels, kind = read_image(photo)
    result = slice_sheet(pixels, kind, text, grid=shape, size=size, ink=ink.value, source=photo.name)
    _report_skipped(result.skipped)
    info(f"wrote {_write_refset(result, out_path)} references to {out_path}")


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
    import numpy as np

    from glyph.data.damage import Damage, damage_images
    from glyph.data.sources import open_dataset
    from glyph.imageio import write_image
    from glyph.paths import inside, safe_name

    check_output_dir(out_path)
    data = open_dataset(src, layout)
    if data.channels != 1:
        raise GlyphError(f"{src} holds colour images; damage works on glyphs (one channel)")
    if n is not None:
        data = data.subset(slice(0, n))
    check_output_dir(out_path)
    bars = TaskBars()
    try:
        damaged = damage_images(data.images, seed=seed, config=Damage(k=k, strength=strength),
                                progress=lambda done, total: bars("damaging", done, total)).numpy()
        chars = data.label_names("char") if "char" in data.labels else [f"{i:06d}" for i in range(len(data))]
        writers = data.label_names("writer") if "writer" in data.labels else ["all"] * len(data)
        # Class names come from the dataset file: made safe and kept inside --out (a crafted '../..' must not
        # escape).
        for i, (ch, w) in enumerate(zip(chars, writers, strict=True)):
            write_image(inside(out_path, "damaged", w, f"{safe_name(ch)}.png"), 1.0 - damaged[i, 0] / 255.0)
            write_image(inside(out_path, "clean", w, f"{safe_name(ch)}.png"),
                        1.0 - data.images[i, 0].numpy() / 255.0)
            if i % 64 == 0 or i == len(data) - 1:
                bars("writing pairs", i + 1, len(data))
    finally:
        bars.close()
    if "char" in data.labels and template_font != "none":
        from glyph.data.fonts import parse_font_specs
        from glyph.data.render import RenderSpec, render_faces

        meta = data.meta.get("render", {})
        spec = RenderSpec(size=data.size[0], margin=meta.get("margin", 0.06), fit=meta.get("fit", "box"))
        try:
            (r,) = render_faces(parse_font_specs(template_font), sorted(set(chars)), spec)
        except GlyphError as e:
            warn(f"no template/ written: {e}")
        else:
            for img, ch in zip(r.images, r.chars, strict=True):
                write_image(inside(out_path, "template", f"{safe_name(ch)}.png"),
                            1.0 - img.astype(np.float32) / 255.0)
            if r.dropped:
                warn(f"template font lacks {sum(len(v) for v in r.dropped.values())} character(s)")
    info(f"wrote {len(data)} damaged/clean pairs to {out_path}")
