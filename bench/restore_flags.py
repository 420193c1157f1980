"""How restorecae's flags and uncertainty maps were chosen: measured per glyph, on held-out glyphs.

``python -m bench.restore_flags --data corpus-gb1.safetensors [--weights RUN] [--out results.json]``

For each split (SFUC chooses the limits, UFUC is only reported) and damage strength, the held-out glyphs are
damaged with seed 0 and restored with and without the template, as ``glyph eval restore`` does. Per glyph it
records the judge's readings, the share of the input's ink erased and the mean uncertainty over the ink, for every
uncertainty kind the weights allow (mc needs dropout; tta always works), and then, for a grid of limits, the share of
glyphs flagged and the share of the changed characters (read as another character than the clean glyph) flagged.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

DROPPED = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1.01)
UNCERTAIN = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 1.01)
UNCLEAR = (0.0, 0.2, 0.3, 0.4, 0.5)


def per_glyph(model: Any, data: Any, judge: Any, split: str, strength: float, per_writer: int) -> dict[str, Any]:
    """Readings, ink and uncertainty of every held-out glyph of ``split``, with and without the template."""
    from glyph.eval.restore import CLEAN, DAMAGED, TEMPLATE, clean_readings, restoration_sets
    from glyph.eval.trust import READ_CONFIDENCE, calibration, ink_dropped, ink_uncertainty, judge_read

    sets = restoration_sets(data, split, model.config.template, model.restore_batch, per_writer=per_writer,
                            strength=strength, blind=True)

    def f(name: str) -> torch.Tensor:
        return sets[name].images.float() / 255

    clean, damaged, template = f(CLEAN), f(DAMAGED), f(TEMPLATE)
    read_clean, right = clean_readings(sets, judge)
    index = {c: i for i, c in enumerate(judge.chars)}
    names = sets[CLEAN].classes["char"]
    truth = torch.tensor([index.get(names[int(c)], -1) for c in sets[CLEAN].labels["char"]])
    read_damaged, p_damaged = judge_read(judge, damaged)
    kinds = ["tta"] + (["mc"] if model.config.dropout > 0 else [])
    out: dict[str, Any] = {"glyphs": len(clean), "clean_read_right": float(right.float().mean())}
    for system, tmpl in (("restored", template), ("restored blind", None)):
        restored = f(system)
        read, p_read = judge_read(judge, restored)
        changed = right & (read != read_clean)
        # what assess checks: the given character (with the template), and the damaged input's confident reading
        char_flag = (read != truth) if tmpl is not None else torch.zeros_like(changed)
        char_flag = char_flag | ((p_damaged >= READ_CONFIDENCE) & (read != read_damaged))
        dropped = ink_dropped(damaged, restored)
        row: dict[str, Any] = {"changed": float(changed.sum() / right.sum()), "n_changed": int(changed.sum()),
                               "char_flag_rate": float(char_flag.float().mean()),
                               "char_flag_recall": _recall(char_flag, changed)}
        for kind in kinds:
            maps = model.uncertainty_batch(damaged, tmpl, kind)
            unsure = ink_uncertainty(maps, restored, damaged)
            row[kind] = {**calibration(maps, restored, clean), "grid": [
                {"dropped": d, "uncertain": u, "unclear": c, "flag_rate": float(flags.float().mean()),
                 "false_alarm": float((flags & ~changed).sum() / (~changed).sum().clamp(min=1)),
                 "recall": _recall(flags, changed)}
                for d in DROPPED for u in UNCERTAIN for c in UNCLEAR
                for flags in [char_flag | (p_read < c) | (dropped > d) | (unsure > u)]]}
        out[system] = row
    return out


def _rounded(x: Any) -> Any:
    """Floats to 4 digits, all the way down (the grid is large)."""
    if isinstance(x, float):
        return round(x, 4)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    return [_rounded(v) for v in x] if isinstance(x, list) else x


def _recall(flags: torch.Tensor, changed: torch.Tensor) -> float | None:
    return float((flags & changed).sum() / changed.sum()) if changed.any() else None


def choose(runs: dict[str, Any], kind: str, false_alarm: float = 0.10) -> dict[str, Any] | None:
    """The limits (on SFUC only) that flag the most changed characters without a template, summed over the damage
    strengths, while flagging at most ``false_alarm`` of the unchanged restorations, with and without template."""
    best, best_score = None, (-1.0, 0.0)
    keys = [k for k in runs if k.startswith("SFUC@")]
    if not keys or kind not in runs[keys[0]]["restored"]:
        return None
    for i, cell in enumerate(runs[keys[0]]["restored"][kind]["grid"]):
        cells = [runs[k][s][kind]["grid"][i] for k in keys for s in ("restored", "restored blind")]
        alarms = max(c["false_alarm"] for c in cells)
        if alarms > false_alarm:
            continue
        # most changed characters caught; among equals, the fewest false alarms
        score = (sum(runs[k]["restored blind"][kind]["grid"][i]["recall"] or 0 for k in keys), -alarms)
        if score > best_score:
            best = {"dropped": cell["dropped"], "uncertain": cell["uncertain"], "unclear": cell["unclear"]}
            best_score = score
    return best


def main(argv: list[str] | None = None) -> None:
    """Measure and write the JSON; print the best limits per uncertainty kind on SFUC at default damage."""
    from glyph.api import load
    from glyph.data.sources import open_dataset
    from glyph.eval.judge import load_judge

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--per-writer", type=int, default=100)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    model = load("restorecae", args.weights, device="cpu", precision="fp32")
    data = open_dataset(args.data)
    judge = load_judge()
    result = {"weights": str(args.weights or "shipped"), "per_writer": args.per_writer, "runs": {}}
    for split in ("SFUC", "UFUC"):
        for strength in (1.0, 2.0):
            key = f"{split}@{strength:g}"
            result["runs"][key] = per_glyph(model, data, judge, split, strength, args.per_writer)
            print(key, json.dumps({s: {k: v for k, v in r.items() if k not in ("tta", "mc")}
                                   for s, r in result["runs"][key].items() if isinstance(r, dict)}))
    result["chosen"] = {kind: choose(result["runs"], kind) for kind in ("tta", "mc")}
    print("chosen on SFUC:", json.dumps(result["chosen"]))
    if args.out:
        args.out.write_text(json.dumps(_rounded(result), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
