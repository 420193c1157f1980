"""Run benchmark suites and write their results as JSON (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from . import cpu as cpu_suite
from . import data as data_suite
from . import eval as eval_suite
from . import gpu as gpu_suite
from . import methods as methods_suite
from . import peak as peak_suite
from . import sample as sample_suite
from . import train as train_suite

SUITES = {"data": data_suite.run, "eval": eval_suite.run, "train": train_suite.run, "peak": peak_suite.run,
          "methods": methods_suite.run, "sample": sample_suite.run, "cpu": cpu_suite.run}
# The GPU check runs only when named (``python -m bench gpu``): it needs a CUDA GPU, or --dry-run.
EXTRA = {"gpu": gpu_suite.run}


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "cuda": torch.cuda.is_available()}


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return str(value)


def _merged_order(groups: dict[str, dict[str, Any]]) -> list[str]:
    """Every group's keys in one list, each new key placed after the key it follows in its group (so a key
    only some groups have, like ``..._missed_by``, sits next to its value rather than at the end)."""
    order: list[str] = []
    for fields in groups.values():
        previous = None
        for field in fields:
            if field not in order:
                order.insert(order.index(previous) + 1 if previous is not None else 0, field)
            previous = field
    return order


def print_table(name: str, results: dict[str, Any], seconds: float) -> None:
    """Print one suite's results: plain keys as rows; ``group.key`` keys as a table with a column per group."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets whole column names
    plain = {k: v for k, v in results.items() if "." not in k}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in results.items():
        if "." in key:
            group, field = key.split(".", 1)
            groups.setdefault(group, {})[field] = value
    table = Table(title=f"{name} ({seconds:.0f} s)", title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for key, value in plain.items():
        table.add_row(key, _cell(value))
    if plain:
        console.print(table)
    if groups:
        fields = _merged_order(groups)
        matrix = Table(title=f"{name} per case" if plain else f"{name} ({seconds:.0f} s)", title_justify="left")
        matrix.add_column("what")
        for group in groups:
            matrix.add_column(group, justify="right")
        for field in fields:
            matrix.add_row(field, *(_cell(g[field]) if field in g else "" for g in groups.values()))
        console.print(matrix)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", default=list(SUITES),
                        help=f"suites to run (default all of {', '.join(SUITES)}); 'gpu' runs the GPU check")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for <suite>.json (default bench/results; with --quick, nothing is written "
                             "unless --out is given)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one short round of everything (numbers are indicative only)")
    cases = ", ".join(c.name for c in methods_suite.CASES)
    parser.add_argument("--methods", default=None, help=f"methods suite only: comma-separated cases ({cases})")
    parser.add_argument("--dry-run", action="store_true",
                        help="gpu only: run the GPU check's code on the CPU at tiny presets (nothing is measured)")
    parser.add_argument("--data", default="embedded", help="gpu only: training data for the check (default embedded)")
    parser.add_argument("--minutes", type=float, default=8.0, help="gpu only: wall-clock budget (default 8)")
    args = parser.parse_args()
    for name in args.suites:
        if name not in SUITES and name not in EXTRA:
            parser.error(f"unknown suite {name!r}; choose from {', '.join([*SUITES, *EXTRA])}")
    picked = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    try:
        methods_suite.pick(picked)  # a typo fails now, not after the suites before it
    except ValueError as e:
        parser.error(str(e))
    dry = args.quick or args.dry_run
    out = args.out if args.out is not None else (None if dry else Path("bench/results"))
    for name in args.suites:
        options: dict[str, Any] = {"quick": args.quick}
        if name == "methods" and picked:
            options["methods"] = picked
        if name == "gpu":
            options = {"dry_run": args.dry_run, "data": args.data, "minutes": args.minutes}
        print(f"{name} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        results = {**SUITES, **EXTRA}[name](**options)
        seconds = time.perf_counter() - t
        record = {"suite": name, "machine": machine(), "seconds": round(seconds, 1), "quick": dry,
                  "results": results}
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{name}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
        if name == "gpu":  # one table per section: cli.dcgan.train_s -> the cli table, column dcgan
            sections: dict[str, dict[str, Any]] = {}
            for key, value in results.items():
                section, _, rest = key.partition(".")
                sections.setdefault(section if rest else "check", {})[rest or key] = value
            for section, values in sections.items():
                print_table(f"gpu {section}", values, seconds)
        else:
            print_table(name, results, seconds)


if __name__ == "__main__":
    main()
