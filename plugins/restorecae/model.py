"""RestoreCAE-Zi's ConvNeXt autoencoder (seeds-code-report §5.2), at any size divisible by 32.

Encoder: a ConvNeXt (glyph.backbones; random init) on the damaged glyph, stacked with the standard-font rendering of
its character when it is known (two channels), pooled to one vector. Bottleneck: Linear to the latent and
back, spread over the coarsest grid (size / 32) by a depthwise transposed convolution. Decoder: the
encoder mirrored, stage widths reversed; each stage is ConvNeXt blocks (depthwise 7x7, LayerNorm, 4x MLP,
layer scale), stages joined by LayerNorm and a 2x2 stride-2 transposed convolution, then a head of two
more such up-samplings and a 7x7 convolution to one channel. The output is a logit per pixel (a sigmoid
gives the image; the published decoder had no output activation and predicted raw values).

``skips`` (glyph's addition, not in the published model) makes it a U-Net: each decoder stage adds the encoder
stage of the same grid (a 1x1 projection), and the head sees the input images again at full resolution. A
bottleneck vector alone cannot say where the surviving ink is to the pixel, so the published decoder redraws
every stroke from a summary (smooth, slightly off); with skips it keeps what survived and fills in only what the
damage took. ``dropout`` drops whole decoder channels during training; kept on at inference
(:meth:`RestoreAE.sample`) it gives Monte-Carlo samples whose spread says where the model guessed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from glyph.backbones import create_backbone


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                            self.eps).permute(0, 3, 1, 2)


class Block(nn.Module):
    """ConvNeXt block: depthwise 7x7 -> LayerNorm -> Linear 4x -> GELU -> Linear -> layer scale -> residual."""

    def __init__(self, dim: int, layer_scale: float = 1e-6) -> None:
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(LayerNorm2d(cin), nn.ConvTranspose2d(cin, cout, 2, 2))


class Decoder(nn.Module):
    """Latent vector (and, with ``skips``, the encoder's stages and the input) -> one-channel logits."""

    def __init__(self, latent: int, dims: tuple[int, ...], depths: tuple[int, ...], resolution: int,
                 skips: bool = False, in_chans: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.grid = resolution // 32
        self.dims = dims
        self.skips = skips
        self.input = nn.Linear(latent, dims[0])
        # a depthwise transposed convolution spreads the vector over the coarsest grid (7 px at 224, 2 px at 64)
        self.spread = nn.Sequential(nn.ConvTranspose2d(dims[0], dims[0], self.grid, groups=dims[0]),
                                    LayerNorm2d(dims[0]))
        # One Sequential of up-samplings and blocks (the layout of the shipped weights); ``_starts`` marks where
        # each stage begins, for the skips.
        stages: list[nn.Module] = []
        self._starts: list[int] = []
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            if i:
                stages.append(_up(dims[i - 1], dim))
            self._starts.append(len(stages))
            stages += [Block(dim) for _ in range(depth)]
        self.stages = nn.Sequential(*stages)
        self.lateral = nn.ModuleList([nn.Conv2d(dim, dim, 1) for dim in dims]) if skips else None
        self.drop = nn.Dropout2d(dropout) if dropout else None
        half = max(8, dims[-1] // 2)
        quarter = half // 2 or 1
        if skips:
            self.head = nn.Sequential(_up(dims[-1], half), _up(half, quarter), LayerNorm2d(quarter))
            # The input again at full resolution: the surviving ink, to the pixel.
            self.out = nn.Sequential(nn.Conv2d(quarter + in_chans, 16, 3, padding=1), nn.GELU(),
                                     nn.Conv2d(16, 1, 3, padding=1))
        else:
            self.head = nn.Sequential(_up(dims[-1], half), _up(half, quarter), LayerNorm2d(quarter),
                                      nn.Conv2d(quarter, 1, 7, padding=3))
        self.apply(_init)

    def forward(self, z: torch.Tensor, feats: list[torch.Tensor] | None = None,
                x: torch.Tensor | None = None) -> torch.Tensor:
        """``feats``: the encoder's stage outputs, finest first; ``x``: the network input (both with ``skips``)."""
        h = self.spread(self.input(z)[:, :, None, None])
        stage = -1
        for j, layer in enumerate(self.stages):
            if j in self._starts:
                stage += 1
                if self.lateral is not None:
                    h = h + self.lateral[stage](feats[-1 - stage])
            h = layer(h)
            if self.drop is not None and (j + 1 in self._starts or j + 1 == len(self.stages)):
                h = self.drop(h)
        h = self.head(h)
        return self.out(torch.cat([h, x], 1)) if self.skips else h


def _init(m: nn.Module) -> None:
    """Truncated-normal(0.02) for every conv, transposed conv and linear layer (the published "fix init")."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class RestoreAE(nn.Module):
    """(damaged [N,1,R,R], template [N,1,R,R] or None) -> restored logits [N,1,R,R]."""

    def __init__(self, encoder: str = "convnext_atto", latent: int = 512,
                 decoder_depths: tuple[int, ...] = (2, 2, 2, 2), resolution: int = 64,
                 with_template: bool = True, skips: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.with_template = with_template
        self.skips = skips
        in_chans = 2 if with_template else 1
        self.encoder, features = create_backbone(encoder, in_chans, where="restorecae encoder")
        dims = tuple(int(f["num_chs"]) for f in self.encoder.feature_info)[::-1]
        self.to_latent = nn.Linear(features, latent)
        self.decoder = Decoder(latent, dims, tuple(decoder_depths), resolution, skips, in_chans, dropout)

    def forward(self, damaged: torch.Tensor, template: torch.Tensor | None = None) -> torch.Tensor:
        x = torch.cat([damaged, template], 1) if self.with_template and template is not None else damaged
        if self.with_template and template is None:
            x = torch.cat([damaged, torch.zeros_like(damaged)], 1)
        if not self.skips:
            return self.decoder(self.to_latent(self.encoder(x)))
        enc = self.encoder
        feats, h = [], enc.stem(x)
        for stage in enc.stages:
            h = stage(h)
            feats.append(h)
        pooled = enc.forward_head(enc.norm_pre(h))
        return self.decoder(self.to_latent(pooled), feats, x)

    def mc_dropout(self, on: bool) -> None:
        """Keep the decoder's dropout active in eval mode (Monte-Carlo samples), or not."""
        for m in self.decoder.modules():
            if isinstance(m, nn.Dropout2d):
                m.train(on)
