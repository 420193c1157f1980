"""Inception-FID for comparison with published numbers, from a local weights file only.

The network is the FID variant of InceptionV3 that pytorch-fid uses (ported from TensorFlow's
``inception-2015-12-05`` graph): torchvision's Inception3 blocks with TensorFlow's pooling —
average pools that ignore padded zeros in the A, C and first E blocks, and a max pool in the last E
block — 1,008 logits, 2,048 pooled features. glyph never downloads it: give the pytorch-fid weights
file (``pt_inception-2015-12-05-6726825d.pth``) with ``--inception-weights PATH`` or
``GLYPH_INCEPTION_WEIGHTS``. Glyphs are shown to it as people see them (dark ink on white),
replicated to three channels. Two resize modes: ``bilinear`` inside the network (pytorch-fid) and
``clean`` (clean-fid's bicubic resize in float32 with PIL, no re-quantisation).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import inception as tv

from ..errors import GlyphError

ENV = "GLYPH_INCEPTION_WEIGHTS"
HOW_TO_GET = ("Inception-FID needs the pytorch-fid weights file pt_inception-2015-12-05-6726825d.pth (91 MB, from "
              "the pytorch-fid project's releases); download it once and pass --inception-weights PATH or set "
              f"{ENV}")


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool divides by the number of real pixels at the borders.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _A(tv.InceptionA):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b1, b5, b3, self.branch_pool(_avg3(x))], 1)


class _C(tv.InceptionC):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        return torch.cat([b1, b7, bd, self.branch_pool(_avg3(x))], 1)


class _E(tv.InceptionE):
    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([b1, b3, bd, self.branch_pool(pooled)], 1)


class FIDInception(nn.Module):
    """2,048 pooled features of the FID InceptionV3 from images in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        net = tv.Inception3(num_classes=1008, aux_logits=False, init_weights=False)
        net.Mixed_5b, net.Mixed_5c, net.Mixed_5d = _A(192, 32), _A(256, 64), _A(288, 64)
        net.Mixed_6b, net.Mixed_6c = _C(768, 128), _C(768, 160)
        net.Mixed_6d, net.Mixed_6e = _C(768, 160), _C(768, 192)
        net.Mixed_7b, net.Mixed_7c = _E(1280, max_pool=False), _E(2048, max_pool=True)
        self.net = net

    def load(self, path: str | Path) -> FIDInception:
        """Load the pytorch-fid state dict (a plain tensor dict; loaded with ``weights_only=True``)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise GlyphError(f"--inception-weights {path}: no such file. {HOW_TO_GET}") from None
        except Exception as e:  # a truncated download or another format
            raise GlyphError(f"--inception-weights {path}: not a PyTorch state dict ({str(e).splitlines()[0]})") \
                from None
        try:
            self.net.load_state_dict(state)
        except (RuntimeError, TypeError) as e:
            raise GlyphError(f"--inception-weights {path} is not the pytorch-fid Inception "
                             f"({str(e).splitlines()[0][:120]})") from None
        return self

    def forward(self, x: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """Features of RGB images in [0, 1] (``resize``: bilinear to 299 inside, as pytorch-fid)."""
        if resize:
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        n = self.net
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1, n.Conv2d_3b_1x1,
                      n.Conv2d_4a_3x3, n.maxpool2, n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b,
                      n.Mixed_6c, n.Mixed_6d, n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def weights_path(given: str | Path | None) -> Path | None:
    """The weights file from the option or the environment, or None."""
    value = given or os.environ.get(ENV)
    return Path(value) if value else None


def clean_resize(images: np.ndarray, size: int = 299) -> np.ndarray:
    """clean-fid's resize: each channel as float32 through PIL bicubic, no rounding. ``[N, H, W, 3]`` in [0, 255]."""
    from PIL import Image

    out = np.empty((len(images), size, size, 3), np.float32)
    for i, img in enumerate(images):
        for c in range(3):
            ch = Image.fromarray(img[..., c].astype(np.float32), mode="F")
            out[i, ..., c] = np.asarray(ch.resize((size, size), Image.Resampling.BICUBIC))
    return out


@torch.no_grad()
def inception_features(images_u8: torch.Tensor, model: FIDInception, ink: str, mode: str = "bilinear",
                       batch: int = 50, device: torch.device | str = "cpu") -> np.ndarray:
    """Features of a uint8 ``[N, C, H, W]`` set (glyphs in 255-ink convention are shown dark on white)."""
    feats = []
    for i in range(0, len(images_u8), batch):
        x = images_u8[i:i + batch].float()
        if ink == "glyph":
            x = 255.0 - x
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if mode == "clean":
            arr = clean_resize(x.permute(0, 2, 3, 1).numpy())
            t = torch.from_numpy(arr).permute(0, 3, 1, 2) / 255.0
            feats.append(model(t.to(device), resize=False).cpu().numpy())
        else:
            feats.append(model((x / 255.0).to(device), resize=True).cpu().numpy())
    return np.concatenate(feats).astype(np.float64)
