"""A tiny trainable method for the engine's tests: a 16 px GAN with two optimizers and an EMA generator.

Loaded in-process by the tests and installed as a fake distribution for CLI tests.
"""

from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

import glyph


@dataclass
class ToyConfig:
    steps: int = 20
    batch: int = 16
    z: int = 8
    lr: float = 2e-3
    ema_decay: float = 0.9
    nan_from: int = -1  # make the loss non-finite from this step on (tests the divergence guard)
    width: int = 8


class ToyGAN(glyph.Method):
    """Toy GAN for tests."""

    name = "toygan"
    Config = ToyConfig
    parts = ("G", "D")
    ema_parts = ("G",)

    def build(self):
        c, w = self.config, self.config.width
        g = nn.Sequential(nn.Linear(c.z, w * 4 * 4), nn.Unflatten(1, (w, 4, 4)), nn.ReLU(),
                          nn.ConvTranspose2d(w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
                          nn.ConvTranspose2d(w, 1, 4, 2, 1))
        d = nn.Sequential(nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(w, w, 4, 2, 1), nn.LeakyReLU(0.2),
                          nn.Flatten(), nn.Linear(w * 16, 1))
        self.nets = {"G": g, "D": d}
        return self.nets

    def configure_optimizers(self):
        lr = self.config.lr
        return {k: torch.optim.Adam(n.parameters(), lr=lr, betas=(0.5, 0.999)) for k, n in self.nets.items()}

    def make_batch(self, data, index, phase):
        x = data.images[index].float().div(127.5).sub(1)
        return {"image": F.adaptive_avg_pool2d(x, 16)}

    def train_step(self, batch, step, trainer):
        real = batch["image"]
        g, d = self.nets["G"], self.nets["D"]
        z = torch.randn(len(real), self.config.z, device=real.device)
        with trainer.autocast():
            fake = g(z)
            loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
        if 0 <= self.config.nan_from <= step:
            loss_d = loss_d * float("nan")
        trainer.backward(loss_d)
        trainer.step("D")
        with trainer.autocast():
            loss_g = F.softplus(-d(g(z))).mean()
        trainer.backward(loss_g)
        trainer.step("G")
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def preview(self, n, generator=None):
        dev = next(self.nets["G"].parameters()).device
        z = torch.randn(n, self.config.z, generator=generator).to(dev)
        return self.nets["G"](z).float().add(1).div(2).clamp(0, 1)

    def run(self, ctx, *, n: Annotated[int, glyph.Opt("how many samples")] = 4,
            out: Annotated[str, glyph.Opt("output grid")] = "toy.png"):
        """Write a grid of samples."""
        from glyph.grid import tile

        with torch.no_grad():
            images = self.preview(n, torch.Generator().manual_seed(ctx.seed or 0))
        ctx.save_image(out, tile(1 - images[:, 0].numpy()))


@glyph.hookimpl
def glyph_register_methods(register):
    register(ToyGAN, presets={"tiny": {"steps": 4, "batch": 8}})


# ---- test controls, active only when the tests set these environment variables -------------------
import os  # noqa: E402
import signal  # noqa: E402


@glyph.hookimpl
def glyph_train_step(run, step, metrics):
    if os.environ.get("TOY_KILL_AT") == str(step):
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("TOY_INTERRUPT_AT") == str(step):
        os.kill(os.getpid(), signal.SIGINT)


@glyph.hookimpl
def glyph_train_end(run, step, reason):
    if os.environ.get("TOY_DUMP_RANKS"):
        import hashlib

        import glyph.loader

        method = glyph.loader.get_registry()  # noqa: F841 - keeps the registry loaded in every rank
        from glyph.trainer import Trainer  # noqa: F401

        state = _CURRENT.get("nets", {})
        h = hashlib.sha256()
        for part in sorted(state):
            for k, v in sorted(state[part].state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().cpu().contiguous().numpy().tobytes())
        (run.run_dir / f"rank-{run.rank}.sha").write_text(h.hexdigest())


_CURRENT: dict = {}
_build = ToyGAN.build


def _remember(self):
    nets = _build(self)
    _CURRENT["nets"] = nets
    return nets


ToyGAN.build = _remember

if os.environ.get("TOY_KILL_IN_SAVE"):
    import glyph.checkpoint as _ckpt

    _save_state = _ckpt.save_state

    def _dying_save(path, state):
        if state["step"] == int(os.environ["TOY_KILL_IN_SAVE"]):
            with open(path.parent / "trainer.pt.partial", "wb") as fh:
                fh.write(b"half a checkpoint")
            (path.parent / "weights" / "G.safetensors").write_bytes(b"garbage")
            os.kill(os.getpid(), signal.SIGKILL)
        _save_state(path, state)

    _ckpt.save_state = _dying_save
