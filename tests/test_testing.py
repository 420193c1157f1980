"""glyph.testing: the conformance checks pass for the built-ins and catch broken methods."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest

import glyph
from glyph.catalogue import builtin_catalogue
from glyph.loader import get_registry, reset_registry
from glyph.registry import Entry, Provider
from glyph.testing import check_method


@pytest.mark.parametrize("name", sorted(builtin_catalogue()))
def test_builtin_methods_conform(name):
    assert "run" in check_method(name) or get_registry().methods[name].obj.trainable


@dataclass
class ToyConfig:
    width: int = 4
    steps: int = 10
    batch: int = 4


class Toy(glyph.Method):
    """A trainable toy: one linear 'generator'."""

    name = "toy"
    Config = ToyConfig
    parts = ("G",)
    ema_parts = ("G",)

    def build(self):
        import torch

        self.nets = {"G": torch.nn.Linear(2, self.config.width * self.config.width)}
        return self.nets

    def configure_optimizers(self):
        import torch

        return {"G": torch.optim.Adam(self.nets["G"].parameters())}

    def preview(self, n, generator=None):
        import torch

        x = self.nets["G"](torch.randn(n, 2, generator=generator))
        return torch.sigmoid(x).view(n, 1, self.config.width, self.config.width)

    def train_step(self, batch, step, trainer):
        import torch

        target = torch.nn.functional.adaptive_avg_pool2d(batch["image"], self.config.width).flatten(1)
        with trainer.autocast():
            loss = (self.nets["G"](torch.randn(len(target), 2)) - target).pow(2).mean()
        trainer.backward(loss)
        trainer.step("G")
        return {"loss": loss.detach()}

    def run(self, ctx, *, n: Annotated[int, glyph.Opt("how many")] = 1):
        """Nothing to do."""


@pytest.fixture
def inject():
    reset_registry()
    reg = get_registry()

    def add(cls, **catalogue):
        reg.methods[cls.name] = Entry(cls.name, cls, Provider("toy", "toy-dist", "0"), catalogue)

    yield add
    reset_registry()


def test_trainable_checks_pass_for_a_good_toy(inject):
    inject(Toy, presets={"tiny": {"width": 2}})
    done = check_method("toy")
    assert "build" in done and "train" in done


def test_trainable_without_tiny_preset_fails(inject):
    inject(Toy)
    with pytest.raises(AssertionError, match="needs a 'tiny' preset"):
        check_method("toy")


def test_bad_preview_range_fails(inject):
    class Loud(Toy):
        """Out of range."""

        def preview(self, n, generator=None):
            return super().preview(n, generator) * 3

    inject(Loud, presets={"tiny": {}})
    with pytest.raises(AssertionError, match=r"must lie in \[0, 1\]"):
        check_method("toy")


def test_undocumented_option_fails(inject):
    class NoHelp(Toy):
        """No help text."""

        def run(self, ctx, *, n: Annotated[int, glyph.Opt(" ")] = 1):
            """Nothing."""

    inject(NoHelp, presets={"tiny": {}})
    with pytest.raises(AssertionError, match="needs help text"):
        check_method("toy")


def test_unregistered_method_fails():
    with pytest.raises(AssertionError, match="not registered"):
        check_method("no-such-method")
