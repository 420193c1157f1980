"""The glyph judge: a small classifier trained by glyph on the corpus fonts, for offline evaluation.

The field's answer to ImageNet-Inception FID on glyphs (FTransGAN, clovaai's benchmark, SDT,
DSF-GAN's recognizable accuracy) is a classifier trained on glyph data. glyph's judge is a timm
network (random init, one input channel, 64 px) with a character head over GB2312 (6,763 classes)
and a style head over the corpus faces. Its pooled features give the Fréchet glyph distance (FGD)
and KID, its heads content and style accuracy. It is trained through glyph's own trainer as a
Method (so fitting it resumes like any run) and ships as fp16 safetensors with a JSON card.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GlyphError
from ..method import Method

JUDGE_DIR = "judge"
WEIGHTS = "judge.safetensors"
CARD = "judge.json"


class JudgeNet(nn.Module):
    """A backbone (glyph.backbones; one channel in, pooled features out) with a character and a style head."""

    def __init__(self, arch: str, n_chars: int, n_styles: int) -> None:
        super().__init__()
        from ..backbones import create_backbone

        # The arch comes from a judge card on disk: it must never make timm fetch a model (create_backbone refuses).
        self.backbone, self.dim = create_backbone(arch, 1, where="judge card: arch")
        self.char_head = nn.Linear(self.dim, n_chars)
        self.style_head = nn.Linear(self.dim, n_styles)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features of images ``x`` (floats in [-1, 1], 255-ink convention mapped to +1 = ink)."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Features, character logits, style logits."""
        f = self.features(x)
        return f, self.char_head(f), self.style_head(f)


@dataclass
class JudgeConfig:
    """How the judge is fitted (``glyph eval fit-judge``)."""

    arch: str = field(default="resnet10t", metadata={"help": "timm architecture (random init)"})
    steps: int = field(default=6000, metadata={"help": "optimisation steps"})
    batch: int = field(default=256, metadata={"help": "images per step"})
    lr: float = field(default=2e-3, metadata={"help": "peak AdamW learning rate (cosine schedule, warm-up)"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay"})
    warmup: int = field(default=300, metadata={"help": "linear warm-up steps"})
    label_smoothing: float = field(default=0.1, metadata={"help": "cross-entropy label smoothing"})
    style_weight: float = field(default=0.5, metadata={"help": "weight of the style loss"})
    holdout: float = field(default=0.03, metadata={"help": "share of (face, character) pairs held out for the card"})
    augment: float = field(default=1.0, metadata={"help": "strength of the geometric/photometric augmentation"})


def heldout_mask(data: Any, share: float, seed: int = 7) -> torch.Tensor:
    """Deterministic held-out (face, character) pairs: a hash of the names, not of row order."""
    chars, writers = data.label_names("char"), data.label_names("writer")
    keep = []
    for c, w in zip(chars, writers, strict=True):
        h = hashlib.blake2b(f"{seed}:{w}:{c}".encode(), digest_size=8).digest()
        keep.append(int.from_bytes(h, "big") / 2**64 < share)
    return torch.tensor(keep)


def augment(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random affine (scale, rotation, shear, shift), stroke weight, blur and noise on ink-in-[0,1] batches, so
    the judge reads generated glyphs, handwriting and worn samples, not only clean font renders."""
    n = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (torch.rand(n, *shape, generator=generator, device=dev) * (hi - lo) + lo) * strength

    scale = 1.0 + u(-0.15, 0.1)
    angle = u(-0.12, 0.12)
    shear = u(-0.15, 0.15)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 1] = cos / scale, (-sin + shear) / scale
    theta[:, 1, 0], theta[:, 1, 1] = sin / scale, cos / scale
    theta[:, :, 2] = u(-0.08, 0.08, 2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    r = torch.rand(n, 1, 1, 1, generator=generator, device=dev)
    thick, thin = F.max_pool2d(x, 3, 1, 1), -F.max_pool2d(-x, 3, 1, 1)
    x = torch.where(r < 0.15 * strength, thick, torch.where(r > 1 - 0.15 * strength, thin, x))
    b = torch.rand(n, 1, 1, 1, generator=generator, device=dev) < 0.2 * strength
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    x = torch.where(b, blurred, x)
    x = x * (1 + u(-0.3, 0.1, 1, 1, 1)) + u(0.0, 0.1, 1, 1, 1)  # fainter ink, greyer paper
    noise = torch.randn(x.shape, generator=generator, device=dev) * u(0.0, 0.06, 1, 1, 1)
    return (x + noise).clamp_(0, 1)


class JudgeFit(Method):
    """Fits the judge through glyph's trainer (not registered as a user method)."""

    name = "judge"
    Config = JudgeConfig
    parts = ("net",)

    def __init__(self, config: Any = None, chars: list[str] | None = None, styles: list[str] | None = None) -> None:
        super().__init__(config)
        self.chars, self.styles = chars or [], styles or []

    def build(self) -> dict[str, nn.Module]:
        self.nets = {"net": JudgeNet(self.config.arch, len(self.chars), len(self.styles))}
        return self.nets

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        opt = torch.optim.AdamW(self.nets["net"].parameters(), lr=c.lr, weight_decay=c.weight_decay)

        from ..trainer import warmup_cosine

        self.schedulers = {"lr": warmup_cosine(opt, c.steps, c.warmup)}
        return {"net": opt}

    def train_rows(self, data: Any) -> torch.Tensor:
        return torch.nonzero(~heldout_mask(data, self.config.holdout)).flatten()

    def make_batch(self, data: Any, index: torch.Tensor, phase: Any) -> dict[str, torch.Tensor]:
        x = data.images[index].float().div_(255)
        x = augment(x, self.config.augment)
        return {"image": x.mul_(2).sub_(1), "char": data.labels["char"][index], "style": data.labels["writer"][index]}

    def train_step(self, batch: Any, step: int, trainer: Any) -> dict[str, float]:
        net = self.nets["net"]
        with trainer.autocast():
            _, char_logits, style_logits = net(batch["image"])
        ls = self.config.label_smoothing
        loss_c = F.cross_entropy(char_logits.float(), batch["char"], label_smoothing=ls)
        loss_s = F.cross_entropy(style_logits.float(), batch["style"], label_smoothing=ls)
        loss = loss_c + self.config.style_weight * loss_s
        trainer.backward(loss)
        trainer.step("net")
        self.schedulers["lr"].step()
        acc = (char_logits.argmax(1) == batch["char"]).float().mean()
        return {"loss": loss.detach(), "char_loss": loss_c.detach(), "train_char_acc": acc.detach()}

    @torch.no_grad()
    def evaluate(self, data: Any) -> dict[str, float]:
        rows = torch.nonzero(heldout_mask(data, self.config.holdout)).flatten().to(data.images.device)
        if len(rows) == 0:
            return {}
        net = self.nets["net"].eval()
        hits_c = hits_s = 0
        for i in range(0, len(rows), 512):
            idx = rows[i:i + 512]
            x = data.images[idx].float().div(127.5).sub(1)
            _, c, s = net(x)
            hits_c += int((c.argmax(1) == data.labels["char"][idx]).sum())
            hits_s += int((s.argmax(1) == data.labels["writer"][idx]).sum())
        net.train()
        acc_c, acc_s = hits_c / len(rows), hits_s / len(rows)
        return {"heldout_char_acc": acc_c, "heldout_style_acc": acc_s, "score": 1.0 - acc_c}

    def preview(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The judge generates nothing; the trainer's sample grids are disabled for it."""
        raise GlyphError("the judge has no samples")


@dataclass
class Judge:
    """A loaded judge: the network and its card (charset, styles, accuracy, hashes)."""

    net: JudgeNet
    card: dict[str, Any]
    path: Path

    @property
    def chars(self) -> list[str]:
        """Character classes, index = logit."""
        return list(self.card["charset"]["chars"])

    @property
    def styles(self) -> list[str]:
        """Style classes (corpus faces), index = logit."""
        return list(self.card["styles"])

    @property
    def hash(self) -> str:
        """sha256 of the weights file (first 16 hex digits), recorded with every result."""
        return self.card["sha256"][:16]


def default_judge_dir() -> Path:
    """The judge shipped inside the glyph package."""
    return Path(str(resources.files("glyph") / "assets" / JUDGE_DIR))


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_judge(path: str | Path | None = None, device: torch.device | str = "cpu") -> Judge:
    """Load a judge folder (``judge.safetensors`` + ``judge.json``); the shipped one by default."""
    from ..checkpoint import load_weights

    folder = Path(path) if path else default_judge_dir()
    card_file, weights = folder / CARD, folder / WEIGHTS
    if not card_file.is_file() or not weights.is_file():
        raise GlyphError(f"no judge in {folder} (needs {CARD} and {WEIGHTS}); reinstall glyph or fit one with "
                         f"`glyph eval fit-judge`")
    card = json.loads(card_file.read_text())
    actual = file_sha256(weights)
    if card.get("sha256") and card["sha256"] != actual:
        raise GlyphError(f"{weights} does not match its card (sha256 {actual[:16]} vs {card['sha256'][:16]}); the "
                         f"file is corrupt or was replaced")
    net = JudgeNet(card["arch"], len(card["charset"]["chars"]), len(card["styles"]))
    state = {k: v.float() for k, v in load_weights(weights).items()}
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise GlyphError(f"{weights} does not fit the judge described by {card_file} ({str(e).splitlines()[0]})") \
            from None
    return Judge(net.to(device).eval(), card, folder)


def export_judge(net: JudgeNet, card: dict[str, Any], folder: Path) -> Path:
    """Write fp16 weights and the card (with the weights' sha256) into ``folder``."""
    from ..checkpoint import save_weights
    from ..imageio import atomic_output

    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / WEIGHTS, {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()})
    card = {**card, "sha256": file_sha256(folder / WEIGHTS)}
    with atomic_output(folder / CARD) as tmp:
        tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False))
    return folder


@dataclass
class JudgeFitResult:
    """What :func:`fit_judge` did.

    :ivar reason: ``finished``, or why the fit stopped early (``interrupted``, ``time limit``...): then nothing
        was exported and the fit continues with ``resume=True``.
    :ivar step: the last step trained.
    :ivar folder: the exported judge (None when the fit stopped early).
    :ivar char_acc: held-out character accuracy of the exported (best) checkpoint; ``style_acc`` its style
        accuracy; ``last_char_acc`` the last step's character accuracy.
    """

    reason: str
    step: int
    folder: Path | None = None
    char_acc: float = 0.0
    style_acc: float = 0.0
    last_char_acc: float = 0.0


def fit_judge(out: str | Path, *, data: str | Path | None = None, charset: str = "gb2312", steps: int | None = None,
              batch: int | None = None, arch: str | None = None, resume: bool = False,
              export: str | Path | None = None, eval_every: int = 500, device: str = "auto",
              display: Any = None, progress: Any = None) -> JudgeFitResult:
    """Train the judge on the corpus fonts and export it; ``glyph eval fit-judge`` is this call.

    Only corpus faces are rendered by default: other fonts are for held-out evaluation.

    :param out: run folder of the fit (checkpoints, metrics, the rendered data).
    :param data: training glyphs with ``char`` and ``writer`` labels (default: render the corpus at 64 px).
    :param charset: the characters the judge reads, when rendering the corpus.
    :param steps: optimisation steps (default :attr:`JudgeConfig.steps`); ``batch`` and ``arch`` likewise.
    :param resume: continue the fit in ``out``.
    :param export: where to write the judge (default ``out/judge``).
    :param display: the trainer's progress display (:class:`glyph.trainer.TrainDisplay`).
    :param progress: called with (task, done, total) while the corpus renders.
    :raises GlyphError: data without the labels or at another size, a fit already in ``out`` without ``resume``.
    """
    import dataclasses

    from ..checkpoint import RunDir, load_weights
    from ..data.charsets import load_charset
    from ..data.fonts import parse_font_specs
    from ..data.packed import load_packed, save_packed
    from ..data.render import RenderSpec, render_dataset
    from ..data.sources import open_dataset
    from ..device import resolve_device, validate_device_spec
    from ..paths import check_output_dir
    from ..trainer import TrainConfig, Trainer

    for name, value in (("steps", steps), ("batch", batch), ("eval_every", eval_every)):
        if value is not None and value < 1:  # before rendering: a negative count would train nothing
            raise GlyphError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    out = Path(out)
    check_output_dir(out, "--out", new=False)  # a file there, or no permission: say so before rendering
    dev = resolve_device(validate_device_spec(device))
    run = RunDir(out)
    cache = out / "data.safetensors"
    if resume and cache.is_file():
        dataset = load_packed(cache)
    elif data:
        dataset = open_dataset(data)
    else:
        tell = None if progress is None else (lambda done, total: progress("rendering the corpus", done, total))
        dataset, _ = render_dataset(parse_font_specs("corpus"), load_charset(charset), RenderSpec(size=64),
                                    progress=tell)
    if not {"char", "writer"} <= set(dataset.labels):
        raise GlyphError("the judge needs data with 'char' and 'writer' labels (e.g. rendered fonts)")
    if dataset.size != (64, 64) or dataset.channels != 1:
        raise GlyphError(f"the judge reads 64 px glyphs with one channel; got {dataset.channels}x{dataset.size}")
    if not resume:
        if run.exists():
            raise GlyphError(f"{out} already holds a fit; add --resume or choose another --out")
        out.mkdir(parents=True, exist_ok=True)
        save_packed(dataset, cache)
    cfg = JudgeConfig()
    if resume:
        from ..config import apply_overrides

        saved = run.read_config("judge", require=("config",))
        cfg = apply_overrides(JudgeConfig(), saved["config"], f"{run.path / 'config.json'}")
    cfg = dataclasses.replace(cfg, **{k: v for k, v in (("steps", steps), ("batch", batch), ("arch", arch))
                                      if v is not None})
    method = JudgeFit(cfg, dataset.classes["char"], dataset.classes["writer"])
    tcfg = TrainConfig(sample_every=0, eval_every=eval_every, ckpt_every=eval_every, log_every=50, keep_last=2)
    trainer = Trainer(method, dataset, out, tcfg, dev, data_source=str(cache), display=display)
    reason = trainer.fit(resume=resume)
    if reason != "finished":
        return JudgeFitResult(reason, trainer.step_no)
    scores = method.evaluate(trainer.data)
    best = run.best_checkpoint() or run.latest_checkpoint()
    net = method.nets["net"]
    net.load_state_dict(load_weights(best / "weights" / "net.safetensors"))
    final = method.evaluate(trainer.data)
    import glyph

    card = {
        "name": "glyph judge",
        "glyph_version": glyph.__version__,
        "arch": cfg.arch,
        "input": {"size": 64, "channels": 1, "range": "[-1, 1], +1 = full ink (glyph's 255-ink convention)"},
        "feature_dim": net.dim,
        "charset": {"name": dataset.meta.get("charset", "custom"), "size": len(dataset.classes["char"]),
                    "chars": "".join(dataset.classes["char"])},
        "styles": list(dataset.classes["writer"]),
        "data": {"source": dataset.meta.get("source"), "fonts": dataset.meta.get("fonts", []),
                 "render": dataset.meta.get("render", {}), "glyphs": len(dataset)},
        "training": {**dataclasses.asdict(cfg), "checkpoint": best.name},
        "heldout": {"share_of_face_char_pairs": cfg.holdout, "char_top1": round(final["heldout_char_acc"], 4),
                    "style_top1": round(final["heldout_style_acc"], 4)},
    }
    folder = export_judge(net, card, Path(export) if export else out / "judge")
    return JudgeFitResult(reason, trainer.step_no, folder, final["heldout_char_acc"], final["heldout_style_acc"],
                          scores["heldout_char_acc"])
