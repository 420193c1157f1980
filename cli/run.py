"""``glyph run METHOD``: one click command per registered method, built from its ``run`` signature."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

import click

from glyph.config import apply_overrides
from glyph.method import RunContext, RunOption, RunReport, run_options

from .console import info, out, state, warn


def _click_type(tp: Any) -> tuple[Any, bool]:
    """The click type for an annotation, and whether it is a boolean flag."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else str
    if typing.get_origin(tp) is Literal:
        return click.Choice([str(a) for a in typing.get_args(tp)]), False
    if tp is bool:
        return bool, True
    if tp is Path:
        return click.Path(path_type=Path), False
    if tp in (int, float, str):
        return tp, False
    return str, False


def _to_option(spec: RunOption) -> click.Option:
    ctype, is_flag = _click_type(spec.type)
    long = spec.opt.flag or "--" + spec.name.replace("_", "-")
    decls = [long] + ([spec.opt.short] if spec.opt.short else [])
    if is_flag:
        decls = [f"{long}/--no-{long[2:]}"] + ([spec.opt.short] if spec.opt.short else [])
    extra: dict[str, Any] = {} if spec.required else {"default": spec.default}
    help_text = spec.opt.help
    if spec.config_default is not None:
        help_text += f"  [default: {spec.config_default} (Config)]"
    return click.Option(
        [*decls, spec.name], type=None if is_flag else ctype, is_flag=is_flag, required=spec.required,
        help=help_text, show_default=spec.config_default is None and spec.default not in (None, False), **extra,
    )


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


def make_command(name: str) -> click.Command:
    """Build the ``glyph run NAME`` command from the registered method's signature and presets."""
    from glyph.loader import get_registry

    entry = get_registry().method(name)
    method_cls = entry.obj
    specs = run_options(method_cls)
    presets = entry.catalogue.get("presets") or {}
    params: list[click.Parameter] = [_to_option(s) for s in specs]
    if presets:
        params.append(click.Option(["--preset"], type=click.Choice(sorted(presets)),
                                   help="start from a named preset of the method's Config"))
    params.append(click.Option(["--device"], default=None, help="override the global --device for this run"))
    params.append(click.Option(["--seed"], type=int, default=None, help="override the global --seed for this run"))

    def callback(preset: str | None = None, device: str | None = None, seed: int | None = None, **options: Any) -> int:
        from glyph.device import validate_device_spec

        g = state()
        config = method_cls.Config()
        if preset:
            config = apply_overrides(config, presets[preset], f"preset '{preset}'")
        ctx = RunContext(device=validate_device_spec(device) if device else g.device,
                         seed=seed if seed is not None else g.seed)
        method_cls(config).run(ctx, **options)
        return print_report(ctx.report)

    summary = entry.catalogue.get("summary", "")
    return click.Command(name, callback=callback, params=params, help=summary, short_help=summary[:60],
                         context_settings={"help_option_names": ["-h", "--help"]})


class RunGroup(click.Group):
    """Lists registered methods as subcommands; unknown names get a did-you-mean."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Registered method names."""
        from glyph.loader import get_registry

        return sorted(get_registry().methods)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Build the method's command; unknown names raise a GlyphError naming `glyph list`."""
        return make_command(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Like click's, but an unknown method is a GlyphError (one line, did-you-mean)."""
        name = args[0]
        if name.startswith("-"):
            raise click.UsageError(f"unknown option {name} before METHOD; put options after the method name")
        return name, make_command(name), args[1:]

    def invoke(self, ctx: click.Context) -> Any:
        """Return the subcommand's exit code to ``main``."""
        rv = super().invoke(ctx)
        if isinstance(rv, int) and rv:
            ctx.exit(rv)
        return rv
