"""``glyph list``, ``glyph info METHOD`` and ``glyph plugins``: what is installed and where it comes from."""

from __future__ import annotations

import json

import typer
from rich.markup import escape
from rich.table import Table

from glyph.loader import get_registry
from glyph.registry import failure_rows, method_info, method_rows, plugin_rows

from .console import out, warn


def _report_failures(registry) -> None:
    for failure in registry.failures:
        warn(failure.line())


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    return table


def list_methods(json_out: bool = typer.Option(False, "--json", help="print a JSON array instead of a table")) -> None:
    """List the installed methods: name, task, summary, provider, status and shipped weights."""
    registry = get_registry()
    rows = method_rows(registry)
    _report_failures(registry)
    if json_out:
        out.print_json(json.dumps(rows))
        return
    table = _table("glyph methods", ("name", "task", "summary", "provided by", "status", "weights"))
    for r in rows:
        table.add_row(r["name"], r["task"], escape(r["summary"]), f"{r['provider']} {r['version']}",
                      r["status"], r["weights"])
    out.print(table)
    out.print("Use `glyph info METHOD` for options and presets, `glyph run METHOD --help` to run one.")


def info_command(
    method: str = typer.Argument(..., help="method name (see `glyph list`)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of text"),
) -> None:
    """Show a method's inputs, run options, config fields (types, defaults), presets and paper."""
    entry = get_registry().method(method)
    data = method_info(entry)
    if json_out:
        out.print_json(json.dumps(data, default=str))
        return
    out.print(f"[bold]{data['name']}[/] — {escape(data['summary'])}")
    for key in ("task", "status", "paper", "upstream", "example"):
        if data[key]:
            out.print(f"  [dim]{key}:[/] {escape(str(data[key]))}")
    out.print(f"  [dim]provided by:[/] {data['provider']} {data['version']} (entry point '{data['plugin']}')")
    out.print(f"  [dim]trainable:[/] {'yes' if data['trainable'] else 'no'}; shipped weights: {data['weights']}")
    if data["inputs"]:
        out.print("[bold]inputs[/]")
        for k, v in data["inputs"].items():
            out.print(f"  {k}: {escape(v)}")
    for title, rows, cols in (
        ("run options", data["run_options"], ("option", "type", "default", "help")),
        ("config fields", data["config"], ("name", "type", "default", "help")),
    ):
        table = _table(title, cols)
        for r in rows:
            table.add_row(*(escape(str(r[c])) for c in cols))
        out.print(table)
    if data["presets"]:
        out.print("[bold]presets[/] (overrides of the config fields)")
        for name, overrides in data["presets"].items():
            out.print(f"  {name}: " + ", ".join(f"{k}={v!r}" for k, v in overrides.items()))


def plugins_command(
    all_: bool = typer.Option(False, "--all", help="include glyph's built-in plugins"),
    json_out: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List loaded plugins: distribution, version, hooks, what each registered, and load errors."""
    registry = get_registry()
    plugins, failures = plugin_rows(registry, builtin=all_), failure_rows(registry)
    if json_out:
        out.print_json(json.dumps({"plugins": plugins, "errors": failures}))
        return
    table = _table("glyph plugins" + ("" if all_ else " (add --all for built-ins)"),
                   ("plugin", "distribution", "hooks", "registered"))
    for p in plugins:
        reg = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registered"].items())
        table.add_row(p["name"], f"{p['distribution']} {p['version']}", ", ".join(p["hooks"]), reg)
    out.print(table)
    _report_failures(registry)


def install(app: typer.Typer) -> None:
    """Add the listing commands to the root app."""
    app.command("list")(list_methods)
    app.command("info")(info_command)
    app.command("plugins")(plugins_command)
