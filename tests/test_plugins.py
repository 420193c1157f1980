"""Loading plugins: each entry point on its own, failures reported and skipped, strict mode, allow-list."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from glyph import GlyphError, PluginError, RunInfo
from glyph.catalogue import builtin_catalogue
from glyph.loader import get_registry, load_plugins, notify, reset_registry

GOOD = '''
import glyph
from dataclasses import dataclass
from typing import Annotated
from pathlib import Path

@dataclass
class Config:
    gain: float = 1.0

class Echo(glyph.Method):
    """Echo: writes a one-line text file."""
    name = "echo"
    Config = Config
    trainable = False
    def run(self, ctx, *, out: Annotated[Path, glyph.Opt("output file")]):
        Path(out).write_text("hi")
        ctx.report.written.append(Path(out))

class Mean(glyph.Metric):
    """Mean difference."""
    name = "meandiff"

class Flat(glyph.DatasetFormat):
    """A flat folder."""
    name = "flatx"

EVENTS = []

@glyph.hookimpl
def glyph_register_methods(register):
    register(Echo, summary="echo things", task="test", presets={"loud": {"gain": 2.0}})

@glyph.hookimpl
def glyph_register_metrics(register):
    register(Mean)

@glyph.hookimpl
def glyph_register_datasets(register):
    register(Flat)

def hello(name: str = "plugin"):
    """Say hello."""
    print(f"hello from a {name}")

@glyph.hookimpl
def glyph_register_commands(register):
    register(hello)

@glyph.hookimpl
def glyph_train_start(run):
    EVENTS.append(("start", run.method))

@glyph.hookimpl
def glyph_train_step(run, step, metrics):
    EVENTS.append(("step", step, metrics["loss"]))

@glyph.hookimpl
def glyph_checkpoint_saved(run, step, path):
    EVENTS.append(("ckpt", step, str(path)))

@glyph.hookimpl
def glyph_train_end(run, step, reason):
    EVENTS.append(("end", step, reason))
'''

BROKEN_IMPORT = "raise RuntimeError('this plugin is broken on purpose')\n"

RAISING_HOOK = '''
import glyph

@glyph.hookimpl
def glyph_register_methods(register):
    raise ValueError("cannot register today")
'''

MISSPELLED = '''
import glyph

@glyph.hookimpl
def glyph_register_method(register):
    pass
'''

UNMARKED = '''
def glyph_register_methods(register):
    pass
'''

DUPLICATE = '''
import glyph
from glyph.plugins.filter.method import Filter

class Filter2(Filter):
    """Another filter."""

@glyph.hookimpl
def glyph_register_methods(register):
    register(Filter2)
'''

OBSERVER_RAISES = '''
import glyph

@glyph.hookimpl
def glyph_train_step(run, step, metrics):
    raise RuntimeError("observer failed")
'''


@pytest.fixture
def on_path(monkeypatch):
    """Put fake distributions on sys.path for an in-process load; restore the registry afterwards."""
    def add(folder: Path) -> None:
        monkeypatch.syspath_prepend(str(folder))
    reset_registry()
    yield add
    for name in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[name]
    reset_registry()


def test_good_plugin_registers_everything_with_provenance(plugin_dist, on_path):
    on_path(plugin_dist("fake-good", {"fake_good": GOOD}, {"good": "fake_good"}, version="2.3.4"))
    reg = load_plugins(strict=True)
    assert reg.methods["echo"].provider.dist == "fake-good"
    assert reg.methods["echo"].provider.version == "2.3.4"
    assert reg.methods["echo"].catalogue["presets"] == {"loud": {"gain": 2.0}}
    assert "meandiff" in reg.metrics and "flatx" in reg.datasets and "hello" in reg.commands
    record = next(p for p in reg.plugins if p.provider.dist == "fake-good")
    assert "glyph_train_step" in record.hooks
    assert record.registered["methods"] == ["echo"]


def test_trainer_events_reach_observers(plugin_dist, on_path, tmp_path):
    on_path(plugin_dist("fake-good", {"fake_good": GOOD}, {"good": "fake_good"}))
    get_registry()
    import fake_good

    run = RunInfo(method="echo", run_dir=tmp_path)
    notify("glyph_train_start", run=run)
    notify("glyph_train_step", run=run, step=3, metrics={"loss": 0.5})
    notify("glyph_checkpoint_saved", run=run, step=3, path=tmp_path)
    notify("glyph_train_end", run=run, step=3, reason="finished")
    assert fake_good.EVENTS == [("start", "echo"), ("step", 3, 0.5), ("ckpt", 3, str(tmp_path)), ("end", 3, "finished")]


def test_raising_observer_is_reported_and_dropped(plugin_dist, on_path, tmp_path, monkeypatch):
    on_path(plugin_dist("fake-obs", {"fake_obs": OBSERVER_RAISES}, {"obs": "fake_obs"}))
    run = RunInfo(method="x", run_dir=tmp_path)
    notify("glyph_train_step", run=run, step=1, metrics={})
    notify("glyph_train_step", run=run, step=2, metrics={})
    failures = [f for f in get_registry().failures if f.dist == "fake-obs"]
    assert len(failures) == 1 and "observer failed" in failures[0].error
    monkeypatch.setenv("GLYPH_STRICT_PLUGINS", "1")
    reset_registry()
    with pytest.raises(PluginError):
        notify("glyph_train_step", run=run, step=1, metrics={})


@pytest.mark.parametrize(
    ("source", "stage", "needle"),
    [
        (BROKEN_IMPORT, "import", "broken on purpose"),
        (RAISING_HOOK, "glyph_register_methods", "cannot register today"),
        (MISSPELLED, "validation", "glyph_register_method"),
        (UNMARKED, "validation", "lacks the @glyph.hookimpl marker"),
        (DUPLICATE, "glyph_register_methods", "already registered by glyph"),
    ],
    ids=["import", "hook-raises", "misspelled-hook", "unmarked", "duplicate-name"],
)
def test_bad_plugin_is_reported_and_skipped(plugin_dist, on_path, source, stage, needle):
    on_path(plugin_dist("fake-bad", {"fake_bad": source}, {"bad": "fake_bad"}, version="0.0.1"))
    reg = load_plugins(strict=False)
    failure = next(f for f in reg.failures if f.dist == "fake-bad")
    assert failure.stage == stage and needle in failure.error and failure.version == "0.0.1"
    assert reg.methods["filter"].provider.dist == "glyph-cjk"  # everything else still works
    with pytest.raises(PluginError, match="GLYPH_STRICT_PLUGINS"):
        load_plugins(strict=True)


def test_broken_plugin_never_takes_glyph_list_down(glyph, plugin_dist):
    site = plugin_dist("fake-bad", {"fake_bad": BROKEN_IMPORT}, {"bad": "fake_bad"})
    r = glyph("list", "--json", extra_path=[site])
    assert r.code == 0, r.err
    assert any(m["name"] == "filter" for m in json.loads(r.out))
    assert "broken on purpose" in r.err and "fake-bad" in r.err
    p = glyph("plugins", "--json", extra_path=[site])
    errors = json.loads(p.out)["errors"]
    assert errors[0]["distribution"] == "fake-bad" and errors[0]["stage"] == "import"
    strict = glyph("list", extra_path=[site], GLYPH_STRICT_PLUGINS="1")
    assert strict.code == 1 and "broken on purpose" in strict.err and "Traceback" not in strict.err


def test_allow_list_loads_only_named_distributions(glyph, plugin_dist):
    site = plugin_dist("fake-good", {"fake_good": GOOD}, {"good": "fake_good"})
    names = lambda r: {m["name"] for m in json.loads(r.out)}  # noqa: E731
    assert names(glyph("list", "--json", extra_path=[site])) >= {"filter", "echo"}
    builtins = set(builtin_catalogue())
    assert names(glyph("list", "--json", extra_path=[site], GLYPH_LOAD_PLUGINS="")) == builtins
    assert "echo" in names(glyph("list", "--json", extra_path=[site], GLYPH_LOAD_PLUGINS="other,fake_good"))


def test_plugin_command_and_method_work_from_the_cli(glyph, plugin_dist, tmp_path):
    site = plugin_dist("fake-good", {"fake_good": GOOD}, {"good": "fake_good"})
    assert glyph("hello", extra_path=[site]).out.strip() == "hello from a plugin"
    r = glyph("run", "echo", "--out", str(tmp_path / "o.txt"), extra_path=[site])
    assert r.code == 0, r.err
    assert (tmp_path / "o.txt").read_text() == "hi"
    plugins = json.loads(glyph("plugins", "--json", extra_path=[site]).out)["plugins"]
    assert [p["distribution"] for p in plugins] == ["fake-good"]  # built-ins only with --all
    everything = json.loads(glyph("plugins", "--all", "--json", extra_path=[site]).out)["plugins"]
    assert {"glyph-cjk", "fake-good"} <= {p["distribution"] for p in everything}


def test_unknown_method_lookup_suggests(on_path):
    with pytest.raises(GlyphError, match=r"did you mean 'filter'.*glyph list"):
        get_registry().method("filtre")


LAZY = '''
import glyph

@glyph.hookimpl
def glyph_register_methods(register):
    register("lazy_method:Clash", name="clash", summary="takes a host option name", trainable=False)
    register("lazy_method:Gone", name="gone", summary="names a class that is not there")
    register("lazy_method:Clash", name="badpreset", summary="a preset of a field it lacks", trainable=False,
             presets={"p": {"nope": 1}})
'''

LAZY_METHOD = '''
import glyph
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

IMPORTED = True

@dataclass
class Config:
    gain: float = 1.0

class Clash(glyph.Method):
    """Has a run option named like one glyph adds."""
    name = "clash"
    Config = Config
    trainable = False
    def run(self, ctx, *, seed: Annotated[int, glyph.Opt("its own seed")] = 0):
        pass
'''


def test_a_method_registered_by_reference_is_imported_only_when_run(glyph, plugin_dist):
    """`glyph list` shows it from its catalogue; a run() that takes a host option's name, or a reference to
    nothing, is one line when that method is run and never takes the rest of the CLI down."""
    site = plugin_dist("lazy-dist", {"lazy_plugin": LAZY, "lazy_method": LAZY_METHOD}, {"lazy": "lazy_plugin"})
    listed = glyph("list", "--json", extra_path=[site])
    assert listed.code == 0, listed.err
    rows = {r["name"]: r for r in json.loads(listed.out)}
    assert rows["clash"]["summary"] == "takes a host option name" and rows["clash"]["weights"] == "n/a"
    assert glyph("run", "--help", extra_path=[site]).code == 0
    clash = glyph("run", "clash", "--help", extra_path=[site])
    assert clash.code == 1 and "'seed' is an option glyph adds" in clash.err and "Traceback" not in clash.err
    gone = glyph("run", "gone", extra_path=[site])
    assert gone.code == 1 and "method 'gone' from lazy-dist 1.0.0 could not be loaded" in gone.err
    assert "reinstall lazy-dist" in gone.err
    broken = glyph("run", "badpreset", "-h", extra_path=[site])  # imports fine; what it registered is wrong
    assert broken.code == 1 and "method 'badpreset' from lazy-dist 1.0.0 is broken" in broken.err
    assert "unknown config field 'nope'" in broken.err and "tell its authors" in broken.err
    assert glyph("run", "filter", "--help", extra_path=[site]).code == 0


def test_glyph_help_and_list_import_no_method_and_no_torch():
    """The command tree and `glyph list` come from the catalogue: torch is imported only to run something."""
    import subprocess

    code = ("import sys; from glyph.cli.main import main\n"
            "for argv in (['--help'], ['list'], ['run', '--help']):\n"
            "    try: main(argv)\n"
            "    except SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stderr.strip().splitlines()[-1] == "NO-TORCH", proc.stderr[-2000:]
