"""The numerical cores of the metrics: Fréchet distance, KID, SSIM, Inception score.

Fréchet distance is computed in float64 with a symmetric matrix square root: Tr((Σ1 Σ2)^½) equals the
sum of square roots of the eigenvalues of Σ1^½ Σ2 Σ1^½, which is symmetric positive semi-definite, so
no complex parts appear and tiny negative eigenvalues from round-off are clipped (scipy's ``sqrtm``
on Σ1 Σ2 needs an ε·I retry instead). KID is the unbiased MMD² with the cubic polynomial kernel
(Bińkowski et al. 2018), averaged over random subsets: right for the few thousand images glyph sets
have, where FID is biased. SSIM follows Wang et al. 2004 with an 11x11 Gaussian window (σ = 1.5), as
scikit-image computes it with ``gaussian_weights=True``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def mean_cov(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of ``[N, D]`` features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.shape[0] < 2:
        raise ValueError("a Fréchet distance needs at least 2 images per set")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """‖μ1 − μ2‖² + Tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    r1 = _sqrt_psd(s1)
    inner = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_sqrt = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance on features: mean and std of the unbiased MMD² over random subsets."""
    x, y = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    m = min(subset_size, len(x), len(y))
    if m < 2:
        raise ValueError("KID needs at least 2 images per set")
    d = x.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(subsets):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.mean()
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """exp(E KL(p(y|x) ‖ p(y))) over ``splits`` parts: mean and std."""
    p = np.asarray(probs, np.float64)
    scores = []
    for part in np.array_split(p, min(splits, len(p))):
        py = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _gaussian_window(sigma: float = 1.5, radius: int = 5) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of float batches ``[N, C, H, W]`` (channels averaged).

    Uses valid convolution with the 11x11 window: exactly the pixels scikit-image averages after it
    crops the border its reflected filter touched.
    """
    a, b = a.double(), b.double()
    _, c, h, w = a.shape
    if min(h, w) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels, got {h}x{w}")
    win = _gaussian_window().to(a.device).view(1, 1, 11, 11).expand(c, 1, 11, 11)

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, win, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2, 3))
