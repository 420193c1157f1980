"""Each default has one home: an option the CLI passes straight to a Python API function defaults to what that
function defaults to, so ``glyph data render`` and ``glyph.data.render.render_and_save`` never drift apart."""

from __future__ import annotations

import dataclasses
import enum
import inspect
from collections.abc import Callable

import pytest


def _cases() -> list[tuple[str, Callable, Callable, dict[str, str]]]:
    import glyph
    from glyph.cli import data, font, serve
    from glyph.cli import eval as eval_cli
    from glyph.data.damage import write_damage_pairs
    from glyph.data.render import render_and_save
    from glyph.data.sources import pack_dataset, write_preview
    from glyph.data.synth import synth_and_save
    from glyph.eval.fewshot import run_fewshot
    from glyph.eval.judge import fit_judge
    from glyph.eval.restore import run_restore
    from glyph.font import build_font_from_folder, write_text_preview
    from glyph.studio import serve as studio_serve

    out = {"out_path": "out"}
    return [
        ("data render", data.render, render_and_save, {**out, "fonts_": "fonts"}),
        ("data synth", data.synth, synth_and_save, out),
        ("data pack", data.pack, pack_dataset, out),
        ("data show", data.show, write_preview, out),
        ("data damage", data.damage, write_damage_pairs, out),
        ("eval", eval_cli.evaluate, glyph.evaluate, {}),
        ("eval fewshot", eval_cli.fewshot, run_fewshot, {}),
        ("eval restore", eval_cli.restore, run_restore, {}),
        ("eval fit-judge", eval_cli.fit_judge, fit_judge, {}),
        ("font build", font.build, build_font_from_folder, {**out, "name": "family"}),
        ("font show", font.show, write_text_preview, out),
        ("serve", serve.serve, studio_serve, {}),
    ]


def _plain(value: object) -> object:
    """A default as the command line would type it: an Enum's value; a sequence joined with commas."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return value


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_cli_options_default_to_the_api_defaults(case):
    _, command, api, renamed = case
    api_params = inspect.signature(api).parameters
    compared = 0
    for name, param in inspect.signature(command).parameters.items():
        info = param.default
        cli_default = getattr(info, "default", info)
        key = renamed.get(name, name)
        if key not in api_params or api_params[key].default is inspect.Parameter.empty or cli_default is ...:
            continue
        assert _plain(cli_default) == _plain(api_params[key].default), (name, cli_default, api_params[key].default)
        compared += 1
    assert compared, "no option of the command maps to the function: the case list is stale"


def test_damage_options_default_to_the_damage_defaults():
    """``glyph data damage --k --strength`` build a Damage; its fields are their home."""
    from glyph.cli import data
    from glyph.data.damage import Damage

    fields = {f.name: f.default for f in dataclasses.fields(Damage)}
    params = inspect.signature(data.damage).parameters
    for name in ("k", "strength"):
        assert params[name].default.default == fields[name]
