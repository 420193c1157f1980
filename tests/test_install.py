"""Both install modes: the editable install in use here, and a built wheel installed elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import glyph
from glyph.catalogue import registry_path

from .conftest import REPO, glyph_env


def test_editable_install_reads_registry_from_the_repository():
    assert Path(glyph.__file__).resolve().parent == REPO / "core"
    assert registry_path() == REPO / "registry.toml"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # Build from a copy: an in-tree build/ folder could carry stale modules into the wheel.
    src = tmp_path_factory.mktemp("src") / "glyph"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "runs"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True, capture_output=True, text=True, env=glyph_env(),
    )
    (whl,) = out.glob("glyph_cjk-*.whl")
    return whl


def test_wheel_contains_the_package_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("glyph/__init__.py", "glyph/hookspecs.py", "glyph/registry.toml", "glyph/py.typed",
                     "glyph/cli/main.py", "glyph/plugins/filter/method.py", "glyph/data/corpus.toml",
                     "glyph/assets/examples/filter-grids/grid-gray.png", "glyph/assets/examples/handwriting/字.jpg",
                     "glyph/assets/examples/inscription/damaged/四.png",
                     "glyph/assets/templates/noto-sans-sc-64.safetensors.gz", "glyph/font/trace.py",
                     "glyph/plugins/dcgan/default/config.json", "glyph/plugins/dcgan/default/weights/G.ema.safetensors",
                     "glyph/plugins/vae/default/weights/decoder.safetensors",
                     "glyph/plugins/progan/default/weights/G.ema.safetensors",
                     "glyph/plugins/ddpm/default/weights/unet.ema.safetensors",
                     "glyph/plugins/dsfgan/default/weights/G.ema.safetensors",
                     "glyph/plugins/restorecae/default/weights/net.safetensors",
                     *(f"glyph/plugins/{m}/plugin.py" for m in ("dcgan", "vae", "progan", "ddpm", "dsfgan",
                                                                 "restorecae"))):
        assert required in names, f"{required} missing from the wheel"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[glyph]" in text and "filter = glyph.plugins.filter.plugin" in text
    assert "glyph = glyph.cli.main:main" in text


def test_wheel_works_installed_elsewhere(wheel, tmp_path):
    """A fresh venv sees this venv's dependencies through a .pth line (not its editable glyph finder,
    which only a site dir's own .pth files activate), and gets glyph from the wheel."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, env=glyph_env())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = glyph_env()
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    probe = "import glyph, glyph.catalogue as c; print(glyph.__file__, c.registry_path())"
    where = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, cwd=elsewhere, env=env,
                           check=True).stdout
    assert str(REPO) not in where and "site-packages/glyph/registry.toml" in where
    r = subprocess.run([str(venv / "bin" / "glyph"), "list", "--json"], capture_output=True, text=True,
                       cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr
    assert {"filter", "dcgan", "vae", "progan", "ddpm", "dsfgan", "restorecae"} == {m["name"]
                                                                                  for m in json.loads(r.stdout)}
    r = subprocess.run([str(venv / "bin" / "glyph"), "run", "filter", "-i", "example:filter-grids", "-o", "out"],
                       capture_output=True, text=True, cwd=elsewhere, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (elsewhere / "out").iterdir()) == ["grid-gray.png", "grid-rgb.png"]
