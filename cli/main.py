"""The ``glyph`` command: global options, the built-in command groups, plugin commands, error handling."""

from __future__ import annotations

import contextlib
import errno
import inspect
import os
import signal
import sys
import threading

import typer

from glyph.device import PRECISION_HELP
from glyph.errors import GlyphError
from glyph.registry import LoadFailure

from . import console, data, font, listing, run, serve, train
from . import eval as eval_cli
from .console import error


def _version(value: bool) -> None:
    if value:
        import glyph

        typer.echo(f"glyph {glyph.__version__}")
        raise typer.Exit()


def root(
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu, cuda, cuda:N or mps"),
    seed: int | None = typer.Option(None, help="seed for every random number generator"),
    precision: str = typer.Option("auto", help="what `glyph run` computes in: " + PRECISION_HELP),
    threads: str | None = typer.Option(None, help="CPU threads to compute with (default: GLYPH_THREADS, then "
                                       "OMP_NUM_THREADS, then the CPUs glyph may use here)", show_default=False,
                                       metavar="N"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only results and errors"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    """Generate, imitate and restore CJK character images. Start with `glyph list`."""
    from glyph.device import PRECISIONS, validate_device_spec
    from glyph.threads import configure

    if precision not in PRECISIONS:
        raise GlyphError(f"--precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    console.STATE.device = validate_device_spec(device)
    console.STATE.seed = seed
    console.STATE.precision = precision
    console.STATE.quiet = quiet
    for note in configure(threads).notes:  # before any command imports torch (glyph.threads)
        console.warn(note)


def build_app() -> typer.Typer:
    """The full ``glyph`` app: built-in commands, one ``glyph run NAME`` per method, plugin commands."""
    from glyph.loader import get_registry

    app = typer.Typer(
        name="glyph",
        help="Generate, imitate and restore CJK character images. Start with `glyph list`.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    listing.install(app)
    registry = get_registry()
    app.add_typer(run.build_run_app(), name="run")
    app.add_typer(data.app, name="data")
    app.add_typer(font.app, name="font")
    train.install(app)
    eval_cli.install(app)
    serve.install(app)
    taken = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    for name, entry in sorted(registry.commands.items()):
        command = entry.obj
        if name in taken:
            continue
        try:
            if isinstance(command, typer.Typer):
                typer.main.get_command(command)  # fails here, not later, if Typer cannot build it
                app.add_typer(command, name=name)
            elif inspect.isfunction(command):
                probe = typer.Typer()
                probe.command(name)(command)
                typer.main.get_command(probe)
                app.command(name)(command)
            else:
                raise TypeError(f"{command!r} is not a Typer app or a function")
        except Exception as e:
            p = entry.provider
            registry.failures.append(LoadFailure(p.plugin, p.dist, p.version, "command", f"{name}: {e}"))
            continue
        taken.add(name)
    return app


def _interrupts_once() -> None:
    """Ctrl-C raises KeyboardInterrupt once; a second press while glyph cleans up (temporary files, worker pools)
    only says so, so the cleanup and the closing line are never cut short; a third quits at once."""
    if threading.current_thread() is not threading.main_thread():
        return
    presses = 0

    def on_interrupt(signum: int, frame: object) -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            raise KeyboardInterrupt
        if presses == 2:
            error("stopping: cleaning up (press Ctrl-C once more to quit at once)")
            return
        os._exit(130)

    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when an embedding program set one
            signal.signal(signal.SIGINT, on_interrupt)


_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and turns errors into one line and an exit code.

    Usage errors (unknown options, missing arguments) are Typer's: a message and exit code 2.
    A :class:`GlyphError` is the user's to fix: one red line, exit code 1.
    """
    _interrupts_once()
    try:
        build_app()(args=argv, prog_name="glyph")
    except GlyphError as e:
        error(str(e))
        sys.exit(1)
    except KeyboardInterrupt:
        error("interrupted; files already written are complete, nothing half-written was left")
        sys.exit(130)
    except OSError as e:
        if os.environ.get("GLYPH_DEBUG"):
            raise
        if e.errno not in _STORAGE_ERRORS:
            error(f"internal error ({type(e).__name__}: {e}); rerun with GLYPH_DEBUG=1 for details and please "
                  f"report it")
            sys.exit(1)
        # Outputs are written to a temporary name and renamed (glyph.imageio.atomic_output): nothing half-written.
        where = e.filename or "the output"
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            error(f"disk full while writing {where}; free some space (nothing half-written was left) and run it "
                  f"again")
        else:
            error(f"cannot write {where}: {e.strerror}; choose a place you can write to")
        sys.exit(1)
    except Exception as e:
        if os.environ.get("GLYPH_DEBUG"):
            raise
        error(f"internal error ({type(e).__name__}: {e}); rerun with GLYPH_DEBUG=1 for details and please report it")
        sys.exit(1)
