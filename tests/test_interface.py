"""glyph.interface: a method's help and ``glyph info`` come from its interface.json while that matches the code, so
they appear without importing torch; an edit makes glyph import the method again until the file is rewritten."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

import pytest

from glyph import interface
from glyph.loader import get_registry

BUILTIN = sorted(n for n, e in get_registry().methods.items() if e.provider.builtin)


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_interface_files_are_current(name):
    entry = get_registry().methods[name]
    assert interface.read(entry.ref) is not None, (
        f"plugins/{name}/interface.json is missing or older than the code; write it with: "
        f"python -m glyph.interface --builtin")
    why = interface.stale(entry.ref, entry.obj)
    assert why is None, why


@pytest.mark.parametrize("name", BUILTIN)
def test_help_from_the_file_is_the_help_from_the_class(name):
    """The command ``glyph run NAME --help`` builds from the file parses exactly as the one built from the class."""
    from glyph.cli.run import build_command

    entry = get_registry().methods[name]

    def shape(command):
        ctx = command.make_context(name, [], resilient_parsing=True)
        return [(p.name, tuple(p.opts), tuple(p.secondary_opts), p.default, p.required, p.is_flag,
                 p.get_help_record(ctx), p.display_type(ctx)) for p in command.params]

    from_file = build_command(entry, interface.read(entry.ref))
    from_class = build_command(entry)
    assert shape(from_file) == shape(from_class)
    assert from_file.help == from_class.help


def test_info_and_every_method_help_import_no_torch():
    """`glyph info METHOD` and `glyph run METHOD --help` of every built-in method, in one process: no torch."""
    code = textwrap.dedent(f"""
        import sys
        from glyph.cli.main import main
        for name in {BUILTIN!r}:
            for argv in (["info", name], ["info", name, "--json"], ["run", name, "--help"]):
                try:
                    main(argv)
                except SystemExit as e:
                    assert not e.code, (argv, e.code)
        print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "NO-TORCH", proc.stderr[-2000:]
    assert "--refs" in proc.stdout and "config fields" in proc.stdout


METHOD = '''
from dataclasses import dataclass, field
from typing import Annotated, Literal

import glyph


@dataclass
class Config:
    strength: float = field(default=0.5, metadata={{"help": "how hard"}})


class Thing(glyph.Method):
    """A method that only runs."""

    name = "thing"
    Config = Config
    trainable = False
    inputs = {{"input": "images"}}

    def run(self, ctx, *, input: Annotated[str, glyph.Opt("images to read")],
            mode: Annotated[Literal["a", "b"], glyph.Opt("how")] = "a",
            strength: Annotated[float | None, glyph.Opt("how hard")] = None) -> None:
        """{doc}"""
'''


def test_a_changed_package_is_read_from_its_code_until_the_file_is_written_again(tmp_path, monkeypatch):
    pkg = tmp_path / "thingpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "method.py").write_text(METHOD.format(doc="first"))
    monkeypatch.syspath_prepend(str(tmp_path))
    ref = "thingpkg.method:Thing"
    assert interface.read(ref) is None  # no file yet

    (written,) = interface.write([ref])
    assert written == pkg / "interface.json"
    cls = importlib.import_module("thingpkg.method").Thing
    data = interface.read(ref)
    assert data == interface.describe(cls) and interface.stale(ref, cls) is None
    options = {o["name"]: o for o in data["run_options"]}
    assert options["mode"]["choices"] == ["a", "b"] and options["strength"]["config_default"] == 0.5
    assert options["input"]["required"] and data["inputs"] == {"input": "images"}
    specs = interface.run_option_specs(data)
    assert [(s.name, s.flag, s.choices, s.plain_type, s.required) for s in specs] == [
        ("input", "--input", None, str, True), ("mode", "--mode", ["a", "b"], str, False),
        ("strength", "--strength", None, float, False)]

    # Listing a method registered by reference without trainable=: its interface says it does not train.
    from glyph.registry import Entry, Provider, method_info, method_row

    def lazy() -> type:
        raise AssertionError("listing must not import the method")

    entry = Entry("thing", None, Provider("thing", "thing-dist", "1.0"), {"summary": "s"}, ref=ref, load=lazy)
    row = method_row(entry)
    assert row["trainable"] is False and row["weights"] == "n/a"
    assert method_info(entry)["run_options"][1] == {"option": "--mode", "type": "'a' | 'b'", "default": "a",
                                                    "required": False, "help": "how"}

    # Any edit of the package's Python files: the file no longer speaks for the code.
    (pkg / "method.py").write_text(METHOD.format(doc="second"))
    assert interface.read(ref) is None
    assert "python -m glyph.interface thingpkg.method:Thing" in interface.stale(ref, cls)
    interface.write([ref])
    assert interface.read(ref) is not None

    # A file from another layout, a damaged or hand-edited one, or one that is not JSON, is ignored rather than
    # trusted (the fingerprint still matches: only the file changed); check_method names the problem.
    layout = json.loads(written.read_text())
    first = layout["classes"][ref]["run_options"][0]
    for damage in ({"run_options": "x"}, {"trainable": "yes"}, {"config": [1, 2]}, {"config": [{"x": 1}]},
                   {"inputs": {"a": 1}}, {"run_options": [{"name": "seed"}]},
                   *({"run_options": [{**first, **change}]} for change in (
                       {"name": "seed"}, {"name": "help"}, {"name": "bad name!"}, {"short": 7}, {"short": "-h"},
                       {"flag": "not-a-flag"}, {"flag": "--seed"}, {"choices": 5}, {"choices": []},
                       {"type": "list"}, {"required": "no"})),
                   {"run_options": [first, first]}):
        written.write_text(json.dumps({**layout, "classes": {ref: {**layout["classes"][ref], **damage}}}))
        assert interface.read(ref) is None, damage
        assert interface.stale(ref, cls) is not None, damage
    for text, why in ((json.dumps({**layout, "version": 99}), "layout 99"),
                      (json.dumps({**layout, "classes": "x"}), "not an interface file"),
                      (json.dumps([layout]), "not an interface file"), ("{not json", "not an interface file"),
                      (json.dumps({**layout, "classes": {}}), "does not list thingpkg.method:Thing")):
        written.write_text(text)
        assert interface.read(ref) is None and why in interface.stale(ref, cls), text
    with pytest.raises(ValueError, match=r"package\.module:Class"):
        interface.write(["thingpkg.nowhere:Thing"])
    with pytest.raises(ValueError, match=r"not name a subclass of glyph\.Method"):
        interface.write(["thingpkg.method:Config"])


def test_a_renamed_class_leaves_the_file_and_a_module_outside_a_package_gets_none(tmp_path, monkeypatch):
    pkg = tmp_path / "twopkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "method.py").write_text(METHOD.format(doc="one"))
    (pkg / "other.py").write_text(METHOD.format(doc="two").replace("class Thing", "class Other"))
    monkeypatch.syspath_prepend(str(tmp_path))
    interface.write(["twopkg.method:Thing"])
    (path,) = interface.write(["twopkg.other:Other"])
    assert set(json.loads(path.read_text())["classes"]) == {"twopkg.method:Thing", "twopkg.other:Other"}
    # Other is renamed: writing Thing again drops the entry that no longer imports instead of failing on it.
    (pkg / "other.py").write_text(METHOD.format(doc="two").replace("class Thing", "class Another"))
    importlib.invalidate_caches()
    sys.modules.pop("twopkg.other", None)
    interface.write(["twopkg.method:Thing"])
    assert set(json.loads(path.read_text())["classes"]) == {"twopkg.method:Thing"}
    assert interface.read("twopkg.method:Thing") is not None

    # A module that is not in a package has no folder of its own to fingerprint: refused, and never read.
    (tmp_path / "loose.py").write_text(METHOD.format(doc="loose"))
    with pytest.raises(ValueError, match="inside a package"):
        interface.write(["loose:Thing"])
    assert interface.read("loose:Thing") is None and not (tmp_path / "interface.json").exists()


def test_glyph_interface_command(tmp_path):
    """The maintainer's command: usage without arguments, one line for a wrong reference."""
    run = [sys.executable, "-m", "glyph.interface"]
    bare = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 2 and "usage: python -m glyph.interface package.module:Class" in bare.stderr
    wrong = subprocess.run([*run, "nowhere.method:Thing"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: 'nowhere.method:Thing' is not")
    assert "Traceback" not in wrong.stderr
