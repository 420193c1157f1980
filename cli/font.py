"""``glyph font``: build an installable OpenType font from glyph images, preview it, install it."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from .console import TaskBars, info, out, warn
from .options import SIZE, bounded

app = typer.Typer(help="Fonts: build an OpenType font from glyph images, show it, install it.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.command("build")
def build(
    glyphs: Path = typer.Argument(..., help="folder of glyph images named after their characters (永.png, U+6C38.png)"),
    name: str = typer.Option(..., "--name", help="font family name, e.g. 'My Hand'"),
    out_path: Path = typer.Option(..., "--out", "-o", help="font file: NAME.otf (CFF) or NAME.ttf (TrueType)"),
    style: str = typer.Option("Regular", help="style name (Regular, Bold, Light...)"),
    em: int = typer.Option(1000, "--em", help="units per em", callback=bounded(16, 16384)),
    ink: str = typer.Option("auto", help="ink of the images: auto, dark (on white) or light"),
    cjk_only: bool = typer.Option(False, "--cjk-only", help="only the glyph images: no punctuation drawn from the "
                                  "template, no bundled Latin letters and digits"),
) -> None:
    """Trace each glyph image to outlines and write an installable font (with punctuation, digits and Latin)."""
    from glyph.font import build_font_from_folder

    with closing(TaskBars()) as bars:
        report = build_font_from_folder(glyphs, out_path, name, style, em, ink=ink, cjk_only=cjk_only,
                                        progress=lambda done, total: bars("tracing glyphs", done, total))
    for path, why in report.skipped:
        warn(f"skipped {path}: {why}")
    extra = (f" + {len(report.added)} punctuation in the writer's weight + {len(report.latin)} Latin/digits "
             f"(DejaVu Sans, Bitstream Vera licence)" if report.added or report.latin else "")
    info(f"wrote {out_path}: {len(report.chars)} glyphs{extra}, family '{name}' {style}; install it with "
         f"glyph font install {out_path}")


@app.command("show")
def show(
    font: Path = typer.Argument(..., help="a .otf or .ttf file"),
    text: str = typer.Option(..., "--text", help="what to set"),
    out_path: Path = typer.Option(..., "--out", "-o", help="preview image (.png)"),
    size: int = typer.Option(64, help="pixels per em", callback=SIZE),
    columns: int = typer.Option(12, help="characters per line", callback=bounded(1, 1000)),
) -> None:
    """Set a text in a font (as FreeType renders it) and save the page."""
    from glyph.font import write_text_preview

    info(f"wrote {write_text_preview(font, text, out_path, size, columns)}")


@app.command("install")
def install(
    font: Path = typer.Argument(..., help="a .otf or .ttf file"),
    force: bool = typer.Option(False, "--force", help="replace a different font installed under the same name"),
) -> None:
    """Install a font for this user (~/.local/share/fonts) so applications list it."""
    from glyph.font import install_font

    dest = install_font(font, force=force)
    out.print(str(dest))
    info(f"installed {dest}; applications list it after a restart (fontconfig cache refreshed)")
