"""The third-party path: install docs/plugins/example as a real distribution and use it through glyph."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from glyph.imageio import read_image, write_image

from .conftest import REPO, glyph_env, run_glyph


@pytest.fixture(scope="module")
def example_site(tmp_path_factory):
    """pip-install the example plugin (no deps: glyph is already here) into its own folder."""
    target = tmp_path_factory.mktemp("example-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
         str(target), str(REPO / "docs" / "plugins" / "example")],
        check=True, capture_output=True, text=True, env=glyph_env(),
    )
    return target


def test_example_plugin_is_listed_with_its_distribution(example_site):
    r = run_glyph("list", "--json", extra_path=[example_site])
    rows = {m["name"]: m for m in json.loads(r.out)}
    assert rows["binarize"]["provider"] == "glyph-binarize" and rows["binarize"]["version"] == "0.1.0"
    assert rows["binarize"]["status"] == "example" and not rows["binarize"]["builtin"]
    plugins = json.loads(run_glyph("plugins", "--json", extra_path=[example_site]).out)["plugins"]
    assert plugins == [{"name": "binarize", "distribution": "glyph-binarize", "version": "0.1.0", "builtin": False,
                        "hooks": ["glyph_register_methods"], "registered": {"methods": ["binarize"]}}]


def test_example_plugin_runs(example_site, tmp_path):
    img = np.full((20, 20), 0.8, np.float32)
    img[5:15, 8:12] = 0.2
    write_image(tmp_path / "in" / "g.png", img)
    r = run_glyph("run", "binarize", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                  extra_path=[example_site])
    assert r.code == 0, r.err
    out, _ = read_image(tmp_path / "out" / "g.png")
    assert set(np.unique(out)) == {0.0, 1.0} and out[10, 10] == 0.0 and out[0, 0] == 1.0
    preset = run_glyph("run", "binarize", "--preset", "fixed-half", "-i", str(tmp_path / "in"),
                       "-o", str(tmp_path / "out2"), extra_path=[example_site])
    assert preset.code == 0, preset.err


def test_example_plugin_passes_conformance(example_site):
    code = "from glyph.testing import check_method; print(check_method('binarize'))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=glyph_env([example_site]))
    assert r.returncode == 0, r.stderr
    assert "run" in r.stdout
