"""``glyph run METHOD``: one command per registered method, built from its ``run`` signature."""

from __future__ import annotations

import enum
import inspect
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from glyph.errors import GlyphError
from glyph.loader import get_registry
from glyph.method import RunContext, RunOption, RunReport, run_options
from glyph.registry import Entry

from . import console
from .console import error, info, out, warn


def _parameter(spec: RunOption) -> inspect.Parameter:
    """The keyword parameter that gives Typer one method option; a Literal's choices become an Enum (every Typer
    release takes an Enum; Literal support is recent)."""
    tp = enum.Enum("Choice", {v: v for v in spec.choices}, type=str) if spec.choices else spec.plain_type
    decls = [spec.flag] if tp is not bool else [f"{spec.flag}/--no-{spec.flag[2:]}"]
    if spec.opt.short:
        decls.append(spec.opt.short)
    help_text = spec.opt.help
    if spec.config_default is not None:
        help_text += f" (default: {spec.config_default}, from Config)"
    option = typer.Option(*decls, help=help_text, show_default=spec.config_default is None)
    annotation = Annotated[tp if spec.required or spec.default is not None else tp | None, option]
    default = inspect.Parameter.empty if spec.required else spec.default
    return inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def print_report(report: RunReport) -> int:
    """Print what a run did; exit code 1 when inputs were given but nothing could be produced."""
    for source, why in report.problems:
        warn(f"skipped {source}: {why}")
    for note in report.notes:
        info(note)
    for key, value in report.numbers.items():
        out.print(f"{key}: {value:.6g}")
    if len(report.written) == 1:
        info(f"wrote {report.written[0]}")
    elif report.written:
        info(f"wrote {len(report.written)} files, the first {report.written[0]}")
    if report.problems:
        warn(f"{len(report.written)} written, {len(report.problems)} skipped")
        if not report.written:
            return 1
    return 0


def make_command(entry: Entry, specs: list[RunOption] | None = None,
                 trainable: bool | None = None) -> typer.models.CommandFunctionType:
    """A Typer command function for ``glyph run NAME``, with a signature built from the method's ``run`` options:
    ``specs`` and ``trainable`` as read from its interface file, else from the class (imported)."""
    if specs is None or trainable is None:
        specs, trainable = run_options(entry.obj), entry.obj.trainable
    presets = entry.catalogue.get("presets") or {}
    params = [_parameter(spec) for spec in specs]
    if presets:
        preset_enum = enum.Enum("Preset", {p: p for p in sorted(presets)}, type=str)
        params.append(inspect.Parameter("preset", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            preset_enum | None, typer.Option(help="start from a named preset of the method's Config")]))
    if trainable:
        params.append(inspect.Parameter("weights", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Path | None, typer.Option(help="run folder of trained weights (default: the weights shipped with glyph)")]))
    params.append(inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        str | None, typer.Option(help="override the global --device for this run")]))
    params.append(inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        int | None, typer.Option(help="override the global --seed for this run")]))

    def command(**kwargs: Any) -> None:
        from glyph.api import load_for_run
        from glyph.device import validate_device_spec

        kwargs = {k: v.value if isinstance(v, enum.Enum) else v for k, v in kwargs.items()}  # Choice, Preset
        preset, weights = kwargs.pop("preset", None), kwargs.pop("weights", None)
        device, seed = kwargs.pop("device"), kwargs.pop("seed")
        ctx = RunContext(device=validate_device_spec(device) if device else console.STATE.device,
                         seed=seed if seed is not None else console.STATE.seed, precision=console.STATE.precision)
        method = load_for_run(entry.name, weights, preset=preset, device=ctx.device, precision=ctx.precision)
        ctx.progress = bars = console.TaskBars()
        try:
            method.run(ctx, **kwargs)
        except KeyboardInterrupt:
            bars.close()
            print_report(ctx.report)
            error("interrupted; files already written are complete, nothing half-written was left")
            raise typer.Exit(130) from None
        finally:
            bars.close()
        code = print_report(ctx.report)
        if code:
            raise typer.Exit(code)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = entry.catalogue.get("summary", "")
    return command


class MethodGroup(TyperGroup):
    """``glyph run``: one command per registered method, built only when it is run.

    Listing the methods (``glyph run --help``) shows their catalogue summaries without importing them, so the
    CLI starts without torch; ``glyph run NAME`` imports that one method and builds its options from ``run``'s
    signature. An unknown name is a one-line error with a did-you-mean.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        """The registered methods' names, sorted."""
        return sorted(get_registry().methods)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A built command, or a stand-in that carries only the method's summary (for help listings)."""
        import click

        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = get_registry().methods.get(cmd_name)
        if entry is None:
            return None
        summary = entry.catalogue.get("summary", "")
        return click.Command(cmd_name, help=summary, short_help=summary)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Resolve the method named first in ``args`` and build its command (a GlyphError if it cannot be).

        For ``--help`` the options come from the method's interface file when it is current, so the help appears
        without importing the method and torch; to run, the method is imported.
        """
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.commands:
            entry = get_registry().method(name)  # raises GlyphError naming `glyph list`
            command = None
            if {"--help", "-h"} & set(args[1:]) and entry.ref and not entry.loaded:
                from glyph import interface

                iface = interface.read(entry.ref)
                try:
                    command = build_command(entry, iface) if iface is not None else None
                except Exception:  # a file that passed the shape checks but not Typer's: ask the class instead
                    command = None
            self.commands[name] = command or build_command(entry)
        return super().resolve_command(ctx, args)


def build_command(entry: Entry, iface: dict[str, Any] | None = None) -> Any:
    """The click command of ``glyph run NAME`` for one method: from its interface as :func:`glyph.interface.read`
    gives it, else from the class (importing it)."""
    from glyph.interface import run_option_specs

    try:
        if iface is not None:
            command = make_command(entry, run_option_specs(iface), iface["trainable"])
        else:
            command = make_command(entry)
    except TypeError as e:  # a plugin's run() signature glyph cannot turn into options
        raise GlyphError(f"method '{entry.name}' from {entry.provider.dist} cannot be run: its run() options "
                         f"{e}; tell its authors (glyph.testing.check_method finds this)") from None
    probe = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
    probe.command(entry.name, help=entry.catalogue.get("summary", ""))(command)
    return typer.main.get_command(probe)


def build_run_app() -> typer.Typer:
    """The ``glyph run`` group; its commands are built when run (see :class:`MethodGroup`)."""
    return typer.Typer(cls=MethodGroup, no_args_is_help=True,
                       help="Run a method: `glyph run METHOD --help` shows its options.",
                       context_settings={"help_option_names": ["-h", "--help"]})
