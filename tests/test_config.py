"""Config layering: unknown keys and wrong types name the field and what it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from glyph import GlyphError
from glyph.config import apply_overrides, coerce, config_fields, config_to_dict


@dataclass
class Cfg:
    lr: float = 2e-4
    steps: int = 100
    ema: bool = True
    loss: Literal["bce", "hinge"] = field(default="bce", metadata={"help": "adversarial loss"})
    channels: tuple[int, ...] = (64, 128)
    note: str | None = None


def test_overrides_from_toml_values_and_strings():
    c = apply_overrides(Cfg(), {"lr": 1, "steps": "1_000", "ema": "false", "loss": "hinge", "channels": "32,64"}, "t")
    assert (c.lr, c.steps, c.ema, c.loss, c.channels) == (1.0, 1000, False, "hinge", (32, 64))
    assert apply_overrides(Cfg(), {"note": "none"}, "t").note is None


def test_unknown_key_suggests_and_lists_fields():
    with pytest.raises(GlyphError, match=r"--set: unknown config field 'stpes' \(did you mean 'steps'\?\); fields are"):
        apply_overrides(Cfg(), {"stpes": 3}, "--set")


@pytest.mark.parametrize(("key", "value", "needle"), [
    ("steps", "ten", "expected int"),
    ("steps", 1.5, "expected int"),
    ("ema", "maybe", "expected bool"),
    ("loss", "hing", "did you mean 'hinge'"),
    ("lr", True, "expected float"),
])
def test_wrong_types_name_the_field(key, value, needle):
    with pytest.raises(GlyphError, match=f"field '{key}'.*{needle}|{needle}"):
        apply_overrides(Cfg(), {key: value}, "preset 'x'")


def test_describe_and_dump():
    fields = {f.name: f for f in config_fields(Cfg)}
    assert fields["loss"].type == "'bce' | 'hinge'" and fields["loss"].help == "adversarial loss"
    assert fields["channels"].default == (64, 128)
    assert config_to_dict(Cfg())["channels"] == [64, 128]
    assert coerce("3", int | None, "x") == 3
