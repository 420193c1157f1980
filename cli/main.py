"""The ``glyph`` command: global options, the built-in command groups, plugin commands, error handling."""

from __future__ import annotations

import os
import sys

import click
import typer

from glyph.errors import GlyphError

from . import listing
from .console import State, error, warn
from .run import RunGroup

app = typer.Typer(
    name="glyph",
    help="Generate, imitate and restore CJK character images. Start with `glyph list`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        import glyph

        typer.echo(f"glyph {glyph.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu, cuda, cuda:N or mps"),
    seed: int | None = typer.Option(None, help="seed for every random number generator"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only results and errors"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """Generate, imitate and restore CJK character images. Start with `glyph list`."""
    from glyph.device import validate_device_spec

    ctx.obj = State(device=validate_device_spec(device), seed=seed, quiet=quiet)


listing.install(app)


def build_cli() -> click.Group:
    """The click group behind ``glyph``: Typer commands, the ``run`` group and plugin commands."""
    from glyph.loader import get_registry

    group = typer.main.get_group(app)
    group.add_command(RunGroup(name="run", help="Run a method: `glyph run METHOD --help` shows its options."))
    registry = get_registry()
    for name, entry in sorted(registry.commands.items()):
        command = entry.obj
        if isinstance(command, typer.Typer):
            command = typer.main.get_command(command)
        if not isinstance(command, click.Command):
            warn(f"plugin {entry.provider.dist} registered command '{name}' that is not a Typer app or click command")
            continue
        group.add_command(command, name)
    return group


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns errors into one line and an exit code."""
    try:
        cli = build_cli()
        code = cli.main(args=argv, prog_name="glyph", standalone_mode=False)
    except GlyphError as e:
        error(str(e))
        code = 1
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = e.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        error("interrupted; files already written are complete, nothing half-written was left")
        code = 130
    except BrokenPipeError:
        code = 0
    except Exception as e:
        if os.environ.get("GLYPH_DEBUG"):
            raise
        error(f"internal error ({type(e).__name__}: {e}); rerun with GLYPH_DEBUG=1 for details and please report it")
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
