"""Run benchmark suites and write their results as JSON (see docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from . import data as data_suite
from . import eval as eval_suite
from . import train as train_suite

SUITES = {"data": data_suite.run, "eval": eval_suite.run, "train": train_suite.run}


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", default=list(SUITES), help=f"suites to run: {', '.join(SUITES)}")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="folder for <suite>.json")
    args = parser.parse_args()
    for name in args.suites:
        if name not in SUITES:
            parser.error(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        t = time.perf_counter()
        results = SUITES[name]()
        record = {"suite": name, "machine": machine(), "seconds": round(time.perf_counter() - t, 1),
                  "results": results}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=2))
        for key, value in results.items():
            print(f"{name:6s} {key:40s} {value}")


if __name__ == "__main__":
    main()
