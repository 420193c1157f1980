"""Image backbones by name: glyph's own ResNet-10-T and ConvNeXt-atto, any other name from timm.

The built-in style encoder (dsfgan) and the judge use ``resnet10t`` (He et al. 2016, "Deep Residual Learning",
https://arxiv.org/abs/1512.03385, with the "tiered" deep stem and average-pool shortcuts of Bello et al. 2021,
"Revisiting ResNets", https://arxiv.org/abs/2103.07579, as timm names it); restorecae's encoder is
``convnext_atto``. Building them here rather than through timm keeps ``glyph run dsfgan`` and ``glyph run
restorecae`` from importing timm, which imports torchvision and through it torch._dynamo: about a second and a
half of a five-second run on a 2-core CPU. The module trees, parameter names, initialisation and arithmetic are
those of ``timm.create_model(name, ...)``, so weights saved from either load into the other (a test holds this);
any other name is built by timm, offline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import NATIVE_BACKBONES, check_timm_model

_STEM = (24, 32, 64)  # resnet10t's tiered stem: three 3x3 convolutions, the first with stride 2
_WIDTHS = (64, 128, 256, 512)  # one basic block per stage


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut; a strided block's shortcut averages 2x2 cells, then a 1x1 conv."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride > 1 else nn.Identity()
            self.downsample = nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(y + shortcut)


class ResNet10T(nn.Module):
    """ResNet-10-T without its classifier.

    ``stage=None``: images -> pooled features ``[N, 512]`` (timm's ``num_classes=0``).
    ``stage=k`` (1-4): images -> ``[feature map of stage k]`` and no later stage is built (timm's
    ``features_only=True, out_indices=(k,)``; stage 3 of a 64 px input is 4x4).
    """

    def __init__(self, in_chans: int = 1, stage: int | None = None) -> None:
        super().__init__()
        if stage is not None and stage not in (1, 2, 3, 4):
            raise ValueError(f"stage must be 1-4 or None, got {stage!r}")
        a, b, c = _STEM
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, a, 3, 2, 1, bias=False), nn.BatchNorm2d(a), nn.ReLU(inplace=True),
            nn.Conv2d(a, b, 3, 1, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
            nn.Conv2d(b, c, 3, 1, 1, bias=False))
        self.bn1 = nn.BatchNorm2d(c)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.stage = stage
        cin = c
        for i, width in enumerate(_WIDTHS[:stage or 4], start=1):
            self.add_module(f"layer{i}", nn.Sequential(BasicBlock(cin, width, 1 if i == 1 else 2)))
            cin = width
        self.num_features = cin
        self._init()

    def _init(self) -> None:
        # He initialisation for convolutions; each block's last norm starts at zero so that the block starts as its
        # shortcut (timm's zero_init_last), which is what makes weights trained from scratch here match timm's.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        for i in range(1, (self.stage or 4) + 1):
            x = getattr(self, f"layer{i}")(x)
        return [x] if self.stage else x.mean((2, 3))


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an ``[N, C, H, W]`` map (each position normalised on its own)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class _ConvMlp(nn.Module):
    """The inverted bottleneck of a ConvNeXt block as 1x1 convolutions: widen 4x, GELU, narrow."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, 4 * dim, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(4 * dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7 convolution, layer norm, the bottleneck, a learned per-channel scale (from 1e-6), residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.conv_dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim, eps=1e-6)
        self.mlp = _ConvMlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(self.norm(self.conv_dw(x)))
        return x + y * self.gamma.reshape(1, -1, 1, 1)


class ConvNeXtStage(nn.Module):
    """A stage: halve the resolution (norm, 2x2 stride-2 conv; not in the first stage), then the blocks."""

    def __init__(self, cin: int, cout: int, depth: int, first: bool) -> None:
        super().__init__()
        self.downsample = nn.Identity() if first else nn.Sequential(LayerNorm2d(cin, eps=1e-6),
                                                                    nn.Conv2d(cin, cout, 2, 2))
        self.blocks = nn.Sequential(*(ConvNeXtBlock(cout) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class _PooledHead(nn.Module):
    """Global average pool, then layer norm: ``[N, C, H, W]`` -> ``[N, C]``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = LayerNorm2d(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.mean((2, 3), keepdim=True)).flatten(1)


class ConvNeXtAtto(nn.Module):
    """ConvNeXt-atto without its classifier (Liu et al. 2022, "A ConvNet for the 2020s",
    https://arxiv.org/abs/2201.03545; the 3.4 M-parameter size as timm names it): a 4x4 stride-4 stem, four
    stages of depths 2, 2, 6, 2 and widths 40, 80, 160, 320, pooled features ``[N, 320]``.

    Exposes what restorecae's skip connections read, under timm's names: ``stem``, ``stages``, ``norm_pre``,
    ``forward_head``, ``feature_info`` and ``num_features``.
    """

    depths = (2, 2, 6, 2)
    dims = (40, 80, 160, 320)

    def __init__(self, in_chans: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, self.dims[0], 4, 4), LayerNorm2d(self.dims[0], eps=1e-6))
        cins = (self.dims[0], *self.dims[:-1])
        self.stages = nn.Sequential(*(ConvNeXtStage(cin, cout, depth, i == 0) for i, (cin, cout, depth)
                                      in enumerate(zip(cins, self.dims, self.depths, strict=True))))
        self.norm_pre = nn.Identity()
        self.head = _PooledHead(self.dims[-1])
        self.num_features = self.dims[-1]
        self.feature_info = [{"num_chs": d, "reduction": 4 * 2**i, "module": f"stages.{i}"}
                             for i, d in enumerate(self.dims)]
        for m in self.modules():  # truncated normal (std 0.02) for every convolution, zero biases
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's map -> pooled, normalised features ``[N, 320]``."""
        return self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.norm_pre(self.stages(self.stem(x))))


def create_backbone(name: str, in_chans: int = 1, *, stage: int | None = None,
                    where: str = "backbone") -> tuple[nn.Module, int]:
    """A randomly initialised backbone and its number of output channels.

    ``stage=None`` returns a module mapping images to pooled features ``[N, C]``; ``stage=k`` one that maps
    them to a one-element list holding the feature map of stage ``k`` (timm's ``features_only``,
    ``out_indices=(k,)``). ``resnet10t`` and ``convnext_atto`` (pooled only) are built here; other names by timm,
    offline (hub names refused).

    :param where: what named the backbone, for a refused name's message.
    :raises GlyphError: a name timm cannot build offline.
    """
    if name in NATIVE_BACKBONES:  # resnet10t, convnext_atto
        if name == "resnet10t":
            net: ResNet10T | ConvNeXtAtto = ResNet10T(in_chans, stage)
        elif stage is None:
            net = ConvNeXtAtto(in_chans)
        else:
            raise ValueError(f"{name}: glyph builds its pooled features only (stage=None)")
        return net, net.num_features
    import timm

    check_timm_model(name, where)
    if stage is None:
        net = timm.create_model(name, pretrained=False, in_chans=in_chans, num_classes=0)
        return net, int(net.num_features)
    net = timm.create_model(name, pretrained=False, in_chans=in_chans, features_only=True, out_indices=(stage,))
    return net, int(net.feature_info.channels()[-1])
