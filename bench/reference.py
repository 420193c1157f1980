"""Plain-PyTorch training loops for the methods suite: what glyph's speed is compared with.

Each reference trains the same networks (imported from the method's ``model.py``, built from the same Config)
with the same losses, the way the source projects wrote their loops: fp32, contiguous tensors, a
``torch.utils.data.DataLoader`` (``num_workers=0``) whose Dataset opens and decodes one PNG per sample with
Pillow and torchvision's ``ToTensor``, per-sample transforms on the CPU, ``optimizer.zero_grad()`` /
``loss.backward()`` / ``optimizer.step()``. Nothing here is tuned: it is the baseline glyph claims to beat.

The PNGs are written once by :func:`write_pngs` from the embedded dataset, dark ink on white as glyph files
are on disk, one folder per writer (the template writer's folder holds the standard-font glyphs).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


@dataclass
class PngGlyphs:
    """PNG files written for the references: one folder per writer, ``<char>.png`` inside."""

    root: Path
    chars: list[str]
    writers: list[str]  # the writers trained on (the template writer excluded)
    template: str
    by_writer: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def files(self) -> list[Path]:
        """Every training glyph (all writers but the template)."""
        return [p for w in self.writers for p in self.by_writer[w]]

    def template_file(self, char: str) -> Path:
        """The standard-font glyph of ``char``."""
        return self.root / self.template / f"{char}.png"


def write_pngs(data: Any, root: Path, chars: int = 64, template: str = "noto-sans-sc-regular") -> PngGlyphs:
    """Write ``chars`` characters of every writer of ``data`` (a writers GlyphData) as PNGs under ``root``.

    The characters are the first ones every writer has, so each writer folder holds the same set.
    """
    names, writers = data.classes["char"], data.classes["writer"]
    ch, wr = data.labels["char"], data.labels["writer"]
    row = {(int(w), int(c)): i for i, (w, c) in enumerate(zip(wr.tolist(), ch.tolist(), strict=True))}
    shared = [c for c in range(len(names)) if all((w, c) in row for w in range(len(writers)))][:chars]
    out = PngGlyphs(root, [names[c] for c in shared], [w for w in writers if w != template], template)
    for w, writer in enumerate(writers):
        folder = root / writer
        folder.mkdir(parents=True, exist_ok=True)
        out.by_writer[writer] = []
        for c in shared:
            path = folder / f"{names[c]}.png"
            # 255 = ink in memory; files show dark ink on white paper.
            Image.fromarray(255 - data.images[row[(w, c)], 0].numpy()).save(path)
            out.by_writer[writer].append(path)
    return out


# Per sample, as the source projects do: decode, to a tensor, ink = 1 (the files show dark ink on white).
_TO_INK = transforms.Compose([transforms.Grayscale(), transforms.Lambda(ImageOps.invert), transforms.ToTensor()])


def load_png(path: Path, size: int = 64) -> torch.Tensor:
    """One glyph file as a float tensor ``[1, size, size]`` in [0, 1], 1 = ink."""
    with Image.open(path) as im:
        x = _TO_INK(im)
    if x.shape[-1] != size:  # only the tests' tiny presets train below the files' 64 px
        x = transforms.functional.resize(x, [size, size], antialias=True).clamp(0, 1)
    return x


class GlyphFiles(Dataset):
    """Glyph files as tensors at ``size``: in [-1, 1] for the GANs and diffusion (``signed``), else in [0, 1]."""

    def __init__(self, files: list[Path], size: int, signed: bool = True) -> None:
        self.files, self.size, self.signed = files, size, signed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = load_png(self.files[i], self.size)
        return x * 2 - 1 if self.signed else x


def forever(loader: DataLoader) -> Iterator[Any]:
    """Batches of ``loader``, epoch after epoch."""
    while True:
        yield from loader


def _loader(dataset: Dataset, batch: int) -> Iterator[Any]:
    return forever(DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=0))


def _cosine(optimizer: torch.optim.Optimizer, total: int, warmup: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to 0 (written out, as the source projects did)."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Reference:
    """One method's plain training loop; :meth:`step` runs one optimisation step and returns its images."""

    def step(self) -> int:
        raise NotImplementedError


class DCGANReference(Reference):
    """GANji / oil-painting notebook style DCGAN loop with BCE-with-logits and DiffAugment."""

    def __init__(self, c: Any, glyphs: PngGlyphs) -> None:
        from glyph.data.augment import diff_augment
        from glyph.plugins.dcgan.model import Discriminator, Generator, init_weights

        self.c = c
        self.G = Generator(c.z_dim, tuple(c.g_widths), c.channels, c.final_stride)
        self.D = Discriminator(tuple(c.g_widths), c.channels, c.final_stride)
        init_weights(self.G)
        init_weights(self.D)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=(c.beta1, c.beta2))
        self.data = _loader(GlyphFiles(glyphs.files, c.resolution), c.batch)
        self.aug = (lambda x: diff_augment(x, c.diffaugment, fill=-1.0)) if c.diffaugment else (lambda x: x)
        self.bce = torch.nn.BCEWithLogitsLoss()

    def step(self) -> int:
        real = next(self.data)
        z = torch.randn(len(real), self.c.z_dim)
        fake = self.G(z)
        ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
        loss_d = self.bce(self.D(self.aug(real)), ones) + self.bce(self.D(self.aug(fake.detach())), zeros)
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        loss_g = self.bce(self.D(self.aug(fake)), ones)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return len(real)


class VAEReference(Reference):
    """GANji's ResNet VAE loop: Bernoulli likelihood summed over pixels, KL, Adam with a cosine decay."""

    def __init__(self, c: Any, glyphs: PngGlyphs) -> None:
        from glyph.plugins.vae.model import MLPDecoder, MLPEncoder, ResDecoder, ResEncoder

        self.c = c
        if c.arch == "mlp":
            self.enc = MLPEncoder(c.channels, c.hidden, c.latent, c.resolution)
            self.dec = MLPDecoder(c.channels, c.hidden, c.latent, c.resolution)
        else:
            self.enc = ResEncoder(c.channels, tuple(c.widths), c.latent, c.resolution)
            self.dec = ResDecoder(c.channels, tuple(c.widths), c.latent, c.resolution)
        self.opt = torch.optim.Adam([*self.enc.parameters(), *self.dec.parameters()], lr=c.lr)
        self.sched = _cosine(self.opt, c.steps)
        self.data = _loader(GlyphFiles(glyphs.files, c.resolution, signed=False), c.batch)

    def step(self) -> int:
        x = next(self.data)
        mu, logvar = self.enc(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = self.dec(z)
        if self.c.likelihood == "bernoulli":
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        else:
            rec = (torch.sigmoid(logits) - x).pow(2).sum() / (2 * self.c.sigma**2) / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
        loss = rec + self.c.beta * kl
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        return len(x)


class ProGANReference(Reference):
    """The calligraphy ProGAN loop at its last stage (64 px, alpha 1): logistic loss, R1, DiffAugment."""

    def __init__(self, c: Any, glyphs: PngGlyphs) -> None:
        from glyph.data.augment import diff_augment
        from glyph.plugins.progan.model import Discriminator, Generator

        self.c = c
        self.G = Generator(c.z_dim, tuple(c.widths), c.channels)
        self.D = Discriminator(tuple(c.widths), c.channels)
        self.stage, self.gamma = len(c.widths) - 1, float(c.gammas[-1])
        betas = (float(c.betas[0]), float(c.betas[1]))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr, betas=betas)
        self.data = _loader(GlyphFiles(glyphs.files, c.resolution), int(c.batches[-1]))
        self.aug = (lambda x: diff_augment(x, c.diffaugment, fill=-1.0)) if c.diffaugment else (lambda x: x)
        self.count = 0

    def step(self) -> int:
        real = next(self.data)
        s = self.stage
        z = torch.randn(len(real), self.c.z_dim)
        fake = self.G(z, s, 1.0)
        every = self.c.r1_every
        if self.count % every == 0:  # lazy R1 (every N steps, N times the weight), w.r.t. the real images
            x = real.detach().requires_grad_(True)
            real_logits = self.D(self.aug(x), s, 1.0)
            (grad,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
        else:
            real_logits = self.D(self.aug(real), s, 1.0)
            r1 = torch.zeros(())
        fake_logits = self.D(self.aug(fake.detach()), s, 1.0)
        loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean() + 0.5 * self.gamma * every * r1
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        loss_g = F.softplus(-self.D(self.aug(fake), s, 1.0)).mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        self.count += 1
        return len(real)


class DDPMReference(Reference):
    """GANji's DDPM loop: random t, the forward process, MSE on the noise (or v), Adam with a cosine decay."""

    def __init__(self, c: Any, glyphs: PngGlyphs) -> None:
        from glyph.plugins.ddpm.model import UNet

        self.c = c
        self.net = UNet(c.channels, tuple(c.widths), c.bottleneck, attention=tuple(c.attention),
                        resolution=c.resolution)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        self.sched = _cosine(self.opt, c.steps)
        if c.schedule == "linear":
            betas = torch.linspace(1e-4, 0.02, c.timesteps, dtype=torch.float64)
        else:  # Nichol & Dhariwal's cosine schedule
            f = torch.cos((torch.arange(c.timesteps + 1, dtype=torch.float64) / c.timesteps + 0.008) / 1.008
                          * math.pi / 2) ** 2
            betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        self.alphas_cumprod = torch.cumprod(1 - betas, 0).float()
        self.data = _loader(GlyphFiles(glyphs.files, c.resolution), c.batch)

    def step(self) -> int:
        x0 = next(self.data)
        t = torch.randint(0, self.c.timesteps, (len(x0),))
        noise = torch.randn_like(x0)
        ab = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        target = noise if self.c.prediction == "eps" else ab.sqrt() * noise - (1 - ab).sqrt() * x0
        loss = F.mse_loss(self.net(x_t, t), target)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        return len(x0)


class DamagedGlyphs(Dataset):
    """RestoreAE-Zi style: per sample, decode the clean glyph and its template, damage the clean one (at the
    config's lowest wear: glyph's recipe draws 2-4 operations per batch, which changes little of the work)."""

    def __init__(self, glyphs: PngGlyphs, c: Any) -> None:
        from glyph.data.damage import Damage

        self.items = [(p, glyphs.template_file(p.stem)) for p in glyphs.files]
        self.damage = Damage(k=c.damage_k, strength=c.damage_strength)
        self.c = c
        self.gen = torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        clean, template = (load_png(p, self.c.resolution) for p in self.items[i])
        damaged = self.damage(clean[None], self.gen)[0]
        if random.random() < self.c.template_dropout:
            template = torch.zeros_like(template)
        return damaged, template, clean


class RestoreCAEReference(Reference):
    """RestoreAE-Zi's loop: ConvNeXt autoencoder, MSE on the sigmoid output (plus glyph's edge and SSIM terms when
    the config has them), AdamW with warm-up and cosine."""

    def __init__(self, c: Any, glyphs: PngGlyphs) -> None:
        from glyph.plugins.restorecae.model import RestoreAE

        if not c.use_template:
            raise ValueError("the restorecae reference covers configs with templates (the default)")
        self.c = c
        self.net = RestoreAE(c.encoder, c.latent, tuple(c.decoder_depths), c.resolution, c.use_template, c.skips,
                             c.dropout)
        params = list(self.net.named_parameters())
        decay = [p for n, p in params if p.ndim > 1 and not n.endswith("gamma")]
        rest = [p for n, p in params if not (p.ndim > 1 and not n.endswith("gamma"))]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": c.weight_decay},
                                      {"params": rest, "weight_decay": 0.0}], lr=c.lr)
        self.sched = _cosine(self.opt, c.steps, c.warmup)
        self.data = _loader(DamagedGlyphs(glyphs, c), c.batch)

    def step(self) -> int:
        from glyph.eval.stats import ssim
        from glyph.losses import sobel_magnitude

        damaged, template, clean = next(self.data)
        out = torch.sigmoid(self.net(damaged, template))
        loss = F.mse_loss(out, clean)
        if self.c.w_edge:  # the same terms as glyph's recipe, so both loops do the same work
            loss = loss + self.c.w_edge * (sobel_magnitude(out) - sobel_magnitude(clean)).abs().mean()
        if self.c.w_ssim:
            loss = loss + self.c.w_ssim * (1 - ssim(1 - out, 1 - clean).mean())
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.sched.step()
        return len(clean)


class WriterGroups(Dataset):
    """DSF-GAN style: item (writer, k) = ``per_group`` targets of that writer with their templates, and 2k
    references of the same writer showing none of the targets' characters (two views of k)."""

    def __init__(self, glyphs: PngGlyphs, per_group: int, rec_chars: list[str]) -> None:
        self.glyphs, self.per_group = glyphs, per_group
        lookup = {ch: i for i, ch in enumerate(rec_chars)}
        self.cls = {ch: lookup.get(ch, -1) for ch in glyphs.chars}

    def __len__(self) -> int:
        return len(self.glyphs.writers)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        w, k = key
        files = self.glyphs.by_writer[self.glyphs.writers[w]]
        pick = random.sample(files, self.per_group + 2 * k)  # one file per character: distinct characters
        targets, refs = pick[:self.per_group], pick[self.per_group:]
        signed = [[load_png(p) * 2 - 1 for p in group] for group in (targets, refs)]
        return {"target": torch.stack(signed[0]), "refs": torch.stack(signed[1]),
                "template": torch.stack([load_png(self.glyphs.template_file(p.stem)) * 2 - 1 for p in targets]),
                "cls": torch.tensor([self.cls[p.stem] for p in targets]), "writer": w}


class GroupBatches:
    """Batch sampler: per step, ``groups`` distinct writers, all with the same reference count k (cycled)."""

    def __init__(self, writers: int, groups: int, refs: tuple[int, ...]) -> None:
        self.writers, self.groups, self.refs = writers, min(groups, writers), refs

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = 0
        while True:
            k = int(self.refs[step % len(self.refs)])
            yield [(w, k) for w in random.sample(range(self.writers), self.groups)]
            step += 1


class DSFGANReference(Reference):
    """The DSF-GAN GAN stage: D on (glyph, template) pairs; G with adversarial, recogniser, structure,
    contrastive style, outline and pixel losses; the recogniser frozen."""

    def __init__(self, c: Any, glyphs: PngGlyphs) -> None:
        from glyph.data.charsets import load_charset
        from glyph.plugins.dsfgan.model import Discriminator, Generator, Recognizer

        self.c = c
        rec_chars = list(load_charset("gb2312").chars)
        self.G = Generator(c.backbone, tuple(c.content_widths), tuple(c.decoder_widths), c.dim, c.layers, c.heads,
                           c.nce_dim, c.global_blocks)
        self.D = Discriminator(tuple(c.d_widths))
        self.R = Recognizer(len(rec_chars)).eval().requires_grad_(False)
        betas = (float(c.betas[0]), float(c.betas[1]))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=betas)
        dataset = WriterGroups(glyphs, c.per_group, rec_chars)
        sampler = GroupBatches(len(glyphs.writers), c.groups, tuple(c.ref_counts))
        self.data = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=0))

    def step(self) -> int:
        from glyph.losses import sobel_magnitude
        from glyph.plugins.dsfgan.model import supcon

        c = self.c
        b = next(self.data)
        n_groups, k = b["refs"].shape[0], b["refs"].shape[1] // 2
        target, template, cls = b["target"].flatten(0, 1), b["template"].flatten(0, 1), b["cls"].flatten()
        group = torch.arange(n_groups).repeat_interleave(c.per_group)
        refs = torch.cat([b["refs"][:, :k], b["refs"][:, k:]])  # view A of every group, then view B
        glob, detail, emb = self.G.encode_style(refs)
        fake, structure = self.G.synthesize(template, glob[:n_groups][group], detail[:n_groups][group])
        loss_d = F.softplus(-self.D(target, template)).mean() + F.softplus(self.D(fake.detach(), template)).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        adv = F.softplus(-self.D(fake, template)).mean()
        struct = sum(0.5 * (a - s.detach()).pow(2).mean() for a, s in zip(self.G.content(fake), structure,
                                                                          strict=True))
        known = cls >= 0
        cls_loss = F.cross_entropy(self.R(fake)[known], cls[known])
        style = supcon(torch.stack([emb[:n_groups], emb[n_groups:]], 1), b["writer"], c.temperature)
        edge = (sobel_magnitude(fake) - sobel_magnitude(target)).abs().mean()
        l1 = (fake - target).abs().mean()
        loss_g = (c.w_adv * adv + c.w_cls * cls_loss + c.w_struct * struct + c.w_style * style + c.w_edge * edge
                  + c.w_l1 * l1)
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return len(target)


REFERENCES: dict[str, type[Reference]] = {
    "dcgan": DCGANReference, "vae": VAEReference, "progan": ProGANReference, "ddpm": DDPMReference,
    "restorecae": RestoreCAEReference, "dsfgan": DSFGANReference,
}


def _to(batch: Any, device: torch.device) -> Any:
    """``batch`` (a tensor, or tuples, lists and dicts of them) on ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(v, device) for v in batch)
    return batch


class _Moved:
    """A reference's batches decoded on the CPU, as its DataLoader makes them, then copied to the device: what
    a plain loop's ``batch.to(device)`` does."""

    def __init__(self, batches: Iterator[Any], device: torch.device) -> None:
        self.batches, self.device = batches, device

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        with torch.device("cpu"):
            batch = next(self.batches)
        return _to(batch, self.device)


class _OnDevice(Reference):
    """A reference whose networks, optimizer state and step-time tensors live on ``device`` (built and stepped
    under ``torch.device(device)``, so ``torch.randn(...)`` in its loop lands there as in a plain CUDA loop),
    each step waiting for the GPU so that a clock around it counts the work."""

    def __init__(self, inner: Reference, device: torch.device) -> None:
        self.inner, self.device = inner, device
        inner.data = _Moved(inner.data, device)

    def step(self) -> int:
        with torch.device(self.device):
            images = self.inner.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return images


def on_device(method: str, c: Any, glyphs: PngGlyphs, device: torch.device | None = None) -> Reference:
    """The plain reference of ``method`` with config ``c``, on ``device`` (default: the CPU, as it was written)."""
    if device is None or device.type == "cpu":
        return REFERENCES[method](c, glyphs)
    with torch.device(device):
        inner = REFERENCES[method](c, glyphs)
    return _OnDevice(inner, device)
