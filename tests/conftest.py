"""Shared fixtures: run the installed ``glyph`` console script, and build fake plugin distributions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# The property tests and fuzzers try the same examples on every run, so that a CI run's verdict is reproducible;
# `pytest --hypothesis-profile explore` draws new ones (run it when you change what they cover, and keep what it finds
# as an example or a test).
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Result:
    code: int
    out: str
    err: str


def glyph_env(extra_path: list[Path] | None = None, **env: str) -> dict[str, str]:
    """The environment for a glyph subprocess: plugin settings cleared, ``extra_path`` on PYTHONPATH."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("GLYPH_")}
    if extra_path:
        e["PYTHONPATH"] = os.pathsep.join(str(p) for p in extra_path)
    e["COLUMNS"] = "200"
    e.setdefault("XDG_CACHE_HOME", str(REPO / ".pytest_cache" / "xdg"))
    e.update(env)
    return e


def run_glyph(*args: str, cwd: Path | None = None, extra_path: list[Path] | None = None, **env: str) -> Result:
    """Run the installed ``glyph`` console script as a user would."""
    proc = subprocess.run(
        [str(BIN / "glyph"), *args], capture_output=True, text=True, cwd=cwd or REPO,
        env=glyph_env(extra_path, **env), timeout=300,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def glyph():
    """Call ``glyph(*args, **env)`` to run the console script."""
    return run_glyph


def make_plugin_dist(root: Path, dist: str, modules: dict[str, str], entry_points: dict[str, str],
                     version: str = "1.0.0") -> Path:
    """Write an importable fake distribution (modules + a dist-info with entry points) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[glyph]\n{lines}")
    return root


@pytest.fixture
def plugin_dist(tmp_path):
    """Build fake plugin distributions: ``plugin_dist(dist, modules, entry_points)`` -> folder for PYTHONPATH."""
    def make(dist: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.0.0") -> Path:
        return make_plugin_dist(tmp_path / f"site-{dist}", dist, modules, entry_points, version)
    return make


def require_font(path: str) -> Path:
    """A corpus font file, or a skip when it is missing (a failure when GLYPH_REQUIRE_FONTS=1, as in CI)."""
    p = Path(path)
    if not p.exists():
        if os.environ.get("GLYPH_REQUIRE_FONTS") == "1":
            pytest.fail(f"{p} is missing; CI installs the corpus fonts with `bash .ci/setup`")
        pytest.skip(f"{p} is not installed (run `bash .ci/setup`)")
    return p


UKAI = "/usr/share/fonts/truetype/arphic/ukai.ttc"
NOTO_SANS = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
KOUZAN_GYOUSYO = "/usr/share/fonts/truetype/kouzan-mouhitsu/kouzan-mouhitsu-gyosho.ttf"


@pytest.fixture(scope="session")
def small_glyphs():
    """A small real dataset: 3 corpus faces x 24 characters at 32 px."""
    for f in (UKAI, NOTO_SANS):
        require_font(f)
    from glyph.data.charsets import load_charset
    from glyph.data.fonts import parse_font_specs
    from glyph.data.render import RenderSpec, render_dataset

    data, _ = render_dataset(parse_font_specs("ukai-cn,noto-sans-sc-regular,uming-cn"),
                             load_charset("永和九年岁在癸丑暮春之初会于会稽山阴之兰亭修禊事也"), RenderSpec(size=32))
    return data
