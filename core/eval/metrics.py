"""glyph's metrics, each a :class:`glyph.Metric` registered through ``glyph_register_metrics``.

Set metrics compare two unpaired sets through the judge's features (FGD, KID) or the Inception
network (Inception-FID); label metrics read what the judge sees in the generated set (content and
style accuracy, writer identification against the real set's writers, an Inception-score analogue);
pair metrics compare aligned images (SSIM, PSNR, L1, RMSE), aligned by (writer, character) labels or
else by order. Images reach the metrics as :class:`glyph.GlyphData`; :class:`EvalContext` computes the
judge's outputs once per set.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..dataset import GlyphData
from ..metric import Metric
from . import stats

JUDGE_SIZE = 64


class Unavailable(Exception):
    """A metric that cannot run on this input or machine; the message says why (it is skipped)."""


def to_judge_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 glyphs (255 = ink) -> the judge's input: one channel, 64 px (bilinear, antialiased), [-1, 1]."""
    x = images.float().div(255)
    if x.shape[1] == 3:
        x = 1.0 - (0.299 * (1 - x[:, 0]) + 0.587 * (1 - x[:, 1]) + 0.114 * (1 - x[:, 2])).unsqueeze(1)
    if x.shape[-2:] != (JUDGE_SIZE, JUDGE_SIZE):
        x = F.interpolate(x, size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x.mul(2).sub(1)


@dataclass
class JudgeOutputs:
    """What the judge sees in one set."""

    features: np.ndarray
    char_probs: np.ndarray
    style_probs: np.ndarray


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "glyph" / "stats"


@dataclass
class EvalContext:
    """Shared, lazily computed resources: the judge, its outputs per set, Inception features."""

    judge_path: str | Path | None = None
    inception_weights: str | Path | None = None
    fid_resize: str = "bilinear"
    device: torch.device | str = "cpu"
    batch: int = 256
    kid_subsets: int = 100
    # The judge's autocast (glyph.device.PRECISIONS). auto: bf16 where the hardware has it natively (~2.5x faster
    # on an AMX CPU; FGD moves by ~0.1 %), else fp32 (emulated bf16 is far slower). The protocol records the
    # concrete choice.
    precision: str = "auto"
    _judge: Any = None
    _outputs: dict[int, tuple[GlyphData, JudgeOutputs]] = field(default_factory=dict)  # see outputs()
    _inception: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from glyph.device import as_device, resolve_precision

        self.device = as_device(self.device)
        self.precision = resolve_precision(self.precision, torch.device(self.device))

    @property
    def judge(self) -> Any:
        """The judge (loaded on first use)."""
        if self._judge is None:
            from .judge import load_judge

            self._judge = load_judge(self.judge_path, self.device)
            self._judge.net.to(memory_format=torch.channels_last)
        return self._judge

    @torch.no_grad()
    def outputs(self, data: GlyphData) -> JudgeOutputs:
        """Judge features and class probabilities of ``data`` (computed once)."""
        # Keyed by identity, and the set is kept with its outputs: an id alone is reused once a set is freed, and
        # a later set of the same size would silently get the earlier one's judgements.
        key = id(data)
        held = self._outputs.get(key)
        if held is None or held[0] is not data:
            from glyph.device import autocast_dtype

            net = self.judge.net
            dev = torch.device(self.device)
            feats, chars, styles = [], [], []
            for i in range(0, len(data), self.batch):
                x = to_judge_input(data.images[i:i + self.batch]).to(dev)
                with torch.autocast(dev.type, dtype=autocast_dtype(self.precision) or torch.float32,
                                    enabled=self.precision != "fp32"):
                    f, c, s = net(x.contiguous(memory_format=torch.channels_last))
                feats.append(f.double().cpu().numpy())
                chars.append(torch.softmax(c.double(), 1).cpu().numpy())
                styles.append(torch.softmax(s.double(), 1).cpu().numpy())
            self._outputs[key] = (data, JudgeOutputs(np.concatenate(feats), np.concatenate(chars),
                                                     np.concatenate(styles)))
        return self._outputs[key][1]

    def remember(self, data: GlyphData, outputs: JudgeOutputs) -> None:
        """Use ``outputs`` as the judge's reading of ``data`` (precomputed features, or a test's chosen ones)."""
        self._outputs[id(data)] = (data, outputs)

    def set_stats(self, data: GlyphData, name: str, features: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of a set's features, cached on disk per dataset and extractor."""
        extractor = f"{self.judge.hash}-{self.precision}" if name == "judge" else self.fid_resize
        tag = f"{name}-{data.fingerprint()}-{extractor}-{data.size}"
        path = _cache_dir() / f"{hashlib.blake2b(tag.encode(), digest_size=12).hexdigest()}.npz"
        if path.is_file():
            with np.load(path) as z:
                return z["mu"], z["sigma"]
        mu, sigma = stats.mean_cov(features())
        try:
            from ..imageio import atomic_output

            with atomic_output(path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, mu=mu, sigma=sigma)
        except OSError:
            pass
        return mu, sigma

    def inception(self, data: GlyphData) -> np.ndarray:
        """Inception pool features of ``data`` (needs the local weights file)."""
        from .inception import HOW_TO_GET, FIDInception, inception_features, weights_path

        path = weights_path(self.inception_weights)
        if path is None:
            raise Unavailable(HOW_TO_GET)
        key = id(data)
        if key not in self._inception:
            model = FIDInception().load(path).to(self.device).eval()
            self._inception[key] = inception_features(data.images, model, data.meta.get("ink", "glyph"),
                                                      self.fid_resize, device=self.device)
        return self._inception[key]


def _top1(fake: GlyphData, column: str, classes: list[str], probs: np.ndarray, why: str) -> tuple[float, int]:
    """Top-1 agreement of ``probs`` with the label ``column`` of ``fake``, over rows whose label is a class."""
    if column not in fake.labels:
        raise Unavailable(why)
    index = {c: i for i, c in enumerate(classes)}
    names = fake.label_names(column)
    known = np.array([n in index for n in names])
    if not known.any():
        raise Unavailable(why)
    target = np.array([index.get(n, -1) for n in names])
    return float((probs.argmax(1)[known] == target[known]).mean()), int(known.sum())


class FGD(Metric):
    """Fréchet glyph distance: FID's formula on the judge's features (not comparable to Inception-FID)."""

    name = "fgd"
    summary = "Fréchet distance of judge features (lower is better)"
    needs = "sets"

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        ctx: EvalContext = context["ctx"]
        m1, s1 = ctx.set_stats(real, "judge", lambda: ctx.outputs(real).features)
        m2, s2 = stats.mean_cov(ctx.outputs(fake).features)
        return {"fgd": stats.frechet_distance(m1, s1, m2, s2)}


class KID(Metric):
    """Kernel distance on judge features: unbiased, so fair at the few thousand images glyph sets have."""

    name = "kid"
    summary = "unbiased kernel distance of judge features, mean and std over subsets"
    needs = "sets"

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        ctx: EvalContext = context["ctx"]
        mean, std = stats.kid(ctx.outputs(real).features, ctx.outputs(fake).features, subsets=ctx.kid_subsets)
        return {"kid": mean, "kid_std": std}


class ContentAccuracy(Metric):
    """Share of generated glyphs the judge reads as the intended character (DSF-GAN's RA)."""

    name = "content_acc"
    summary = "judge top-1 against the intended character (recognizability)"
    needs = "labels"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        ctx: EvalContext = context["ctx"]
        probs = ctx.outputs(fake).char_probs
        acc, n = _top1(fake, "char", ctx.judge.chars, probs,
                       "the generated set has no characters of the judge's charset (name files after their character)")
        return {"content_acc": acc, "content_n": float(n)}


class Readable(Metric):
    """Share of generated glyphs the judge reads as some character with confidence >= 0.5 (no labels needed)."""

    name = "readable"
    summary = "share of the set the judge reads as a character with confidence >= 0.5"
    needs = "sets"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        probs = context["ctx"].outputs(fake).char_probs
        return {"readable": float((probs.max(1) >= 0.5).mean())}


class StyleAccuracy(Metric):
    """Share of generated glyphs the judge's style head attributes to the intended corpus style."""

    name = "style_acc"
    summary = "judge style head top-1 against the intended corpus style"
    needs = "labels"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        ctx: EvalContext = context["ctx"]
        acc, n = _top1(fake, "writer", ctx.judge.styles, ctx.outputs(fake).style_probs,
                       "the generated set has no writer labels naming corpus styles")
        return {"style_acc": acc, "style_n": float(n)}


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class WriterID(Metric):
    """Share of generated glyphs nearest (cosine, judge features) to the centroid of their own writer's real glyphs.

    The style head knows only the corpus faces it was trained on; centroids of the real set work for any writers
    (synthetic pen writers, faces the judge never saw): a nearest-class-mean classifier, as prototypical networks
    (Snell et al., 2017, arXiv:1703.05175) classify classes unseen in training.
    """

    name = "writer_id"
    summary = "nearest real-writer centroid of judge features is the intended writer (any writers)"
    needs = "labels"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        ctx: EvalContext = context["ctx"]
        if "writer" not in real.labels or "writer" not in fake.labels:
            raise Unavailable("both sets need writer labels (name files after their writer and character)")
        names = real.label_names("writer")
        writers = sorted(set(names))
        if len(writers) < 2:
            raise Unavailable(f"the real set has {len(writers)} writer; telling writers apart needs at least 2")
        index = {w: i for i, w in enumerate(writers)}
        owner = np.array([index[n] for n in names])
        feats = _unit(ctx.outputs(real).features)
        # A mean of unit vectors: every glyph weighs the same in its writer's direction, whatever its feature norm.
        centroids = _unit(np.stack([feats[owner == i].mean(0) for i in range(len(writers))]))
        target = np.array([index.get(n, -1) for n in fake.label_names("writer")])
        known = target >= 0
        if not known.any():
            raise Unavailable("no generated glyph names a writer of the real set")
        guess = (_unit(ctx.outputs(fake).features[known]) @ centroids.T).argmax(1)
        return {"writer_id": float((guess == target[known]).mean()), "writer_id_n": float(len(writers))}


class JudgeIS(Metric):
    """An Inception-score analogue on the judge's character head: confident and diverse characters."""

    name = "judge_is"
    summary = "exp(E KL(p(char|x) || p(char))) over 10 splits"
    needs = "sets"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        mean, std = stats.inception_score(context["ctx"].outputs(fake).char_probs)
        return {"judge_is": mean, "judge_is_std": std}


def pairs(real: GlyphData, fake: GlyphData) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned float images in display polarity ([N, C, H, W] in [0, 1]), by (writer, char) or by order."""
    keys = [c for c in ("writer", "char") if c in real.labels and c in fake.labels]
    if "char" in keys:
        index = {k: i for i, k in enumerate(zip(*(real.label_names(c) for c in keys), strict=True))}
        fk = list(zip(*(fake.label_names(c) for c in keys), strict=True))
        matched = [(index[k], j) for j, k in enumerate(fk) if k in index]
        if not matched:
            raise Unavailable("no generated image has a real counterpart with the same labels")
        ri, fi = (list(t) for t in zip(*matched, strict=True))
    elif len(real) == len(fake):
        ri = fi = list(range(len(real)))
    else:
        raise Unavailable("pair metrics need the same (writer, character) labels or the same number of images")
    a, b = real.images[ri].float() / 255, fake.images[fi].float() / 255
    if a.shape[1:] != b.shape[1:]:
        raise Unavailable(f"paired images differ in shape: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}")
    if real.meta.get("ink", "glyph") == "glyph":
        a, b = 1 - a, 1 - b
    return a, b


class SSIM(Metric):
    """Structural similarity, Gaussian window 11 and σ 1.5 (agrees with scikit-image)."""

    name = "ssim"
    summary = "structural similarity of aligned pairs"
    needs = "pairs"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        a, b = pairs(real, fake)
        return {"ssim": float(stats.ssim(a, b).mean()), "pairs": float(len(a))}


class PSNR(Metric):
    """Peak signal-to-noise ratio of aligned pairs (per image, averaged; identical pairs count as 100 dB)."""

    name = "psnr"
    summary = "peak signal-to-noise ratio in dB"
    needs = "pairs"
    higher_is_better = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        a, b = pairs(real, fake)
        mse = (a.double() - b.double()).pow(2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
        return {"psnr": float((10 * torch.log10(1.0 / mse)).mean())}


class L1(Metric):
    """Mean absolute difference of aligned pairs in [0, 1]."""

    name = "l1"
    summary = "mean absolute error"
    needs = "pairs"

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        a, b = pairs(real, fake)
        return {"l1": float((a.double() - b.double()).abs().mean())}


class RMSE(Metric):
    """Root mean squared difference of aligned pairs in [0, 1]."""

    name = "rmse"
    summary = "root mean squared error"
    needs = "pairs"

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        a, b = pairs(real, fake)
        return {"rmse": float((a.double() - b.double()).pow(2).mean().sqrt())}


class InceptionFID(Metric):
    """FID with the pytorch-fid InceptionV3, for comparison with published numbers (local weights only)."""

    name = "inception_fid"
    summary = "FID on InceptionV3 pool features (needs --inception-weights)"
    needs = "sets"
    uses_inception: ClassVar[bool] = True

    def compute(self, real: GlyphData, fake: GlyphData, **context: Any) -> dict[str, float]:
        ctx: EvalContext = context["ctx"]
        m1, s1 = ctx.set_stats(real, "inception", lambda: ctx.inception(real))
        m2, s2 = stats.mean_cov(ctx.inception(fake))
        return {"inception_fid": stats.frechet_distance(m1, s1, m2, s2)}


BUILTIN: tuple[type[Metric], ...] = (FGD, KID, ContentAccuracy, Readable, StyleAccuracy, WriterID, JudgeIS, SSIM,
                                     PSNR, L1, RMSE, InceptionFID)


def evaluate(real: GlyphData, fake: GlyphData, names: list[str] | None, ctx: EvalContext,
             progress: Any = None) -> tuple[dict, dict]:
    """Run metrics ``names`` (default: every registered one that applies); return (numbers, skipped reasons).

    ``progress(task, done, total)`` is called after each metric.
    """
    from ..loader import get_registry

    table = get_registry().metrics
    chosen = names or [n for n in table if n != "inception_fid" or ctx.inception_weights
                       or os.environ.get("GLYPH_INCEPTION_WEIGHTS")]
    results: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for i, name in enumerate(chosen):
        metric = get_registry().metric(name).obj()
        try:
            results.update(metric.compute(real, fake, ctx=ctx))
        except Unavailable as e:  # the others still run; the reason is printed and recorded
            skipped[name] = str(e)
        if progress is not None:
            progress("metrics", i + 1, len(chosen))
    return results, skipped


def protocol(real: GlyphData, fake: GlyphData, ctx: EvalContext, real_src: str, fake_src: str) -> dict[str, Any]:
    """What a result depends on, recorded beside it."""
    import glyph

    info: dict[str, Any] = {
        "glyph_version": glyph.__version__,
        "real": {"source": real_src, "count": len(real), "size": list(real.size), "channels": real.channels,
                 "ink": real.meta.get("ink", "glyph"), "fingerprint": real.fingerprint()},
        "fake": {"source": fake_src, "count": len(fake), "size": list(fake.size), "channels": fake.channels,
                 "ink": fake.meta.get("ink", "glyph"), "fingerprint": fake.fingerprint()},
        "judge": {"sha256": ctx.judge.card.get("sha256"), "arch": ctx.judge.card.get("arch"),
                  "precision": ctx.precision,
                  "input": f"{JUDGE_SIZE} px, 1 channel, bilinear antialiased resize when sizes differ"},
        "pairs": "aligned by (writer, char) labels, else by order; SSIM/PSNR/L1/RMSE on dark-on-white [0, 1]",
        "kid": {"subsets": ctx.kid_subsets, "subset_size": "min(1000, set sizes)", "kernel": "(x.y/d + 1)^3"},
    }
    if ctx.inception_weights or os.environ.get("GLYPH_INCEPTION_WEIGHTS"):
        info["inception"] = {"network": "pytorch-fid FID InceptionV3, pool3 2048", "resize": ctx.fid_resize,
                             "input": "dark ink on white, grayscale replicated to RGB"}
    return json.loads(json.dumps(info))
