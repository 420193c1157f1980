"""Image backbones by name: glyph's own ResNet-10-T, any other name from timm.

The built-in style encoder (dsfgan) and the judge both use ``resnet10t`` (He et al. 2016, "Deep Residual
Learning", https://arxiv.org/abs/1512.03385, with the "tiered" deep stem and average-pool shortcuts of
Bello et al. 2021, "Revisiting ResNets", https://arxiv.org/abs/2103.07579, as timm names it). Building it here
rather than through timm keeps ``glyph run dsfgan`` from importing timm, which imports torchvision and through
it torch._dynamo: about a second and a half of a five-second run on a 2-core CPU. The module tree, parameter
names, initialisation and arithmetic are those of ``timm.create_model("resnet10t", ...)``, so weights saved
from either load into the other (a test holds this); any other name is built by timm, offline.
"""

from __future__ import annotations

import torch
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


def create_backbone(name: str, in_chans: int = 1, *, stage: int | None = None,
                    where: str = "backbone") -> tuple[nn.Module, int]:
    """A randomly initialised backbone and its number of output channels.

    ``stage=None`` returns a module mapping images to pooled features ``[N, C]``; ``stage=k`` one that maps
    them to a one-element list holding the feature map of stage ``k`` (timm's ``features_only``,
    ``out_indices=(k,)``). ``resnet10t`` is built here; other names by timm, offline (hub names refused).

    :param where: what named the backbone, for a refused name's message.
    :raises GlyphError: a name timm cannot build offline.
    """
    if name in NATIVE_BACKBONES:
        net = ResNet10T(in_chans, stage)
        return net, net.num_features
    import timm

    check_timm_model(name, where)
    if stage is None:
        net = timm.create_model(name, pretrained=False, in_chans=in_chans, num_classes=0)
        return net, int(net.num_features)
    net = timm.create_model(name, pretrained=False, in_chans=in_chans, features_only=True, out_indices=(stage,))
    return net, int(net.feature_info.channels()[-1])
