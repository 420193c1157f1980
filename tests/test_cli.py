"""The CLI through its console script: listings, errors, exit codes."""

from __future__ import annotations

import json

import glyph as glyph_pkg


def test_list_json_names_provider_and_version(glyph):
    r = glyph("list", "--json")
    assert r.code == 0, r.err
    rows = {m["name"]: m for m in json.loads(r.out)}
    f = rows["filter"]
    assert f["provider"] == "glyph-cjk" and f["version"] == glyph_pkg.__version__
    assert f["task"] == "post-processing" and f["status"] == "stable" and f["weights"] == "n/a"


def test_list_table(glyph):
    r = glyph("list")
    assert r.code == 0 and "filter" in r.out and "glyph info METHOD" in r.out


def test_info_shows_config_presets_and_options(glyph):
    data = json.loads(glyph("info", "filter", "--json").out)
    assert {c["name"] for c in data["config"]} == {"threshold", "ink", "mode", "knee"}
    assert data["presets"]["published"]["threshold"] == 0.8
    threshold = next(o for o in data["run_options"] if o["option"] == "--threshold")
    assert threshold["default"] == 0.8  # shown from Config, its one home
    text = glyph("info", "filter").out
    assert "presets" in text and "threshold" in text and "paper" in text


def test_plugins_json_shows_hooks(glyph):
    data = json.loads(glyph("plugins", "--all", "--json").out)
    builtin = next(p for p in data["plugins"] if p["name"] == "filter")
    assert builtin["hooks"] == ["glyph_register_methods"] and builtin["registered"] == {"methods": ["filter"]}
    assert data["errors"] == []


def test_unknown_method_gets_did_you_mean(glyph):
    for args in (("run", "fliter"), ("info", "fliter")):
        r = glyph(*args)
        assert r.code == 1
        assert r.err.strip().splitlines() == [
            "error: unknown method 'fliter' (did you mean 'filter'?); see `glyph list` for the installed methods"
        ]


def test_an_error_that_quotes_a_newline_or_a_bidi_override_stays_one_honest_line(glyph):
    from glyph.errors import one_line

    assert one_line("ok 永 (x)") == "ok 永 (x)"
    assert one_line("a\nb\tc\u202ed\x00") == "a\\nb\\tc\\u202ed\\x00"
    r = glyph("run", "fl\niter")
    assert r.code == 1
    assert r.err.strip().splitlines() == [
        "error: unknown method 'fl\\niter' (did you mean 'filter'?); see `glyph list` for the installed methods"
    ]


def test_usage_errors_exit_2(glyph):
    assert glyph("run", "filter").code == 2  # required options missing
    assert glyph("list", "--nope").code == 2
    assert glyph("frobnicate").code == 2


def test_global_options(glyph, tmp_path):
    assert glyph("--version").out.strip() == f"glyph {glyph_pkg.__version__}"
    bad = glyph("--device", "tpu", "list")
    assert bad.code == 1 and "not a device" in bad.err and "Traceback" not in bad.err
    r = glyph("--quiet", "--device", "cpu", "--seed", "3", "run", "filter", "-i", "example:filter-grids",
              "-o", str(tmp_path / "q"))
    assert r.code == 0 and r.err == ""


def test_python_dash_m_glyph(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "glyph", "list", "--json"], capture_output=True, text=True)
    assert r.returncode == 0 and "filter" in r.stdout
