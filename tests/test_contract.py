"""The plugin contract: every hook documented (with its exact signature) and exercised by a test."""

from __future__ import annotations

import inspect
import re

import pluggy
import pytest

from glyph import hookspecs

from .conftest import REPO

HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("glyph_"))
DOC = (REPO / "docs" / "plugins" / "hooks.md").read_text()


def test_the_contract_has_the_hooks_the_design_needs():
    assert HOOKS == sorted([
        "glyph_register_methods", "glyph_register_datasets", "glyph_register_metrics", "glyph_register_commands",
        "glyph_train_start", "glyph_train_step", "glyph_checkpoint_saved", "glyph_train_end",
    ])


def test_hookspecs_file_stays_one_page():
    assert len((REPO / "core" / "hookspecs.py").read_text().splitlines()) <= 150


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_docstring_documenting_every_argument(hook):
    fn = getattr(hookspecs, hook)
    doc = inspect.getdoc(fn) or ""
    assert doc, f"{hook} has no docstring"
    for arg in inspect.signature(fn).parameters:
        assert f":param {arg}:" in doc, f"{hook}: argument '{arg}' is not documented"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documented_in_hooks_md_with_exact_signature(hook):
    args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    heading = re.compile(rf"^###\s+`{hook}\(([^)]*)\)`", re.M)
    m = heading.search(DOC)
    assert m, f"docs/plugins/hooks.md has no '### `{hook}(...)`' section"
    assert m.group(1) == args, f"hooks.md documents {hook}({m.group(1)}), the spec is {hook}({args})"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    tests = "".join(p.read_text() for p in (REPO / "tests").glob("test_*.py") if p.name != "test_contract.py")
    assert f"def {hook}(" in tests, f"no test implements {hook}"


def test_every_hook_is_a_glyph_spec():
    pm = pluggy.PluginManager("glyph")
    pm.add_hookspecs(hookspecs)
    for hook in HOOKS:
        assert getattr(pm.hook, hook).spec is not None
