"""DSF-GAN networks at native 64 px: content U-Net, dual-branch style encoder, denormalisation decoder.

Follows seeds-code-report.md §3.3-3.5 (DSF-GAN = MetaScript's content encoder and denormalisation
generator + SDT's contrastive writer branch), with the published code's flaws fixed:

* the generator works at 64 px (the published one renders 128 px and throws half of it away);
* reference tokens come from a 1x1 projection at every feature-map position, not a ``.view`` that
  mixes channels with space;
* self-attention has a residual path with a learned gate (SAGAN), softmax over the keys;
* the number of references is free: both style branches pool over however many are given;
* the discriminator returns logits (the loss is BCE-with-logits) and has no shared batch norm;
* the recogniser used as a training loss is a separate, small network (never the evaluation judge)
  with no dropout after its classifier.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from glyph.backbones import create_backbone


def _conv_bn(cin: int, cout: int, k: int, s: int, p: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1, True))



def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 glyphs (255 = ink) -> the networks' [-1, 1] with ink = +1."""
    return images.float().div(127.5).sub(1.0)

class SelfAttention(nn.Module):
    """SAGAN self-attention over positions with a zero-initialised residual gate."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.q = nn.Conv2d(ch, max(1, ch // 8), 1)
        self.k = nn.Conv2d(ch, max(1, ch // 8), 1)
        self.v = nn.Conv2d(ch, ch, 1)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q(x).flatten(2).transpose(1, 2)  # [B, HW, C/8]
        k = self.k(x).flatten(2)  # [B, C/8, HW]
        attn = torch.softmax(q @ k / math.sqrt(k.shape[1]), dim=-1)  # each query over all keys
        out = (self.v(x).flatten(2) @ attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class ContentEncoder(nn.Module):
    """U-Net over the template glyph; returns structure maps at 4, 8, 16, 32 and 64 px (coarse first).

    Down: a 3x3 stem, then four stride-2 4x4 convolutions (self-attention at 16 px). Up: bilinear x2 and
    a 3x3 convolution (cheaper than the published 4x4 transposed ones, same receptive field growth),
    concatenated with the matching down features.
    """

    def __init__(self, widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)) -> None:
        super().__init__()
        w0, w1, w2, w3, w4 = widths
        self.d0 = _conv_bn(1, w0, 3, 1, 1)  # 64 px
        self.d1 = _conv_bn(w0, w1, 4, 2, 1)  # 32
        self.d2 = nn.Sequential(_conv_bn(w1, w2, 4, 2, 1), SelfAttention(w2))  # 16
        self.d3 = _conv_bn(w2, w3, 4, 2, 1)  # 8
        self.d4 = _conv_bn(w3, w4, 4, 2, 1)  # 4
        self.u3, self.u2, self.u1, self.u0 = (_conv_bn(w4, w3, 3, 1, 1), _conv_bn(2 * w3, w2, 3, 1, 1),
                                              _conv_bn(2 * w2, w1, 3, 1, 1), _conv_bn(2 * w1, w0, 3, 1, 1))
        self.channels = (w4, 2 * w3, 2 * w2, 2 * w1, 2 * w0)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        d0 = self.d0(x)
        d1 = self.d1(d0)
        d2 = self.d2(d1)
        d3 = self.d3(d2)
        d4 = self.d4(d3)
        s1 = torch.cat([self.u3(self._up(d4)), d3], 1)
        s2 = torch.cat([self.u2(self._up(s1)), d2], 1)
        s3 = torch.cat([self.u1(self._up(s2)), d1], 1)
        s4 = torch.cat([self.u0(self._up(s3)), d0], 1)
        return [d4, s1, s2, s3, s4]


class StyleEncoder(nn.Module):
    """Any number of references of one writer -> a global style vector and a detailed (token) style vector.

    The backbone (glyph.backbones: resnet10t built natively, other names by timm; random init, one input
    channel) maps each 64 px reference to a 4x4
    feature map. Global branch: pooled features, mean over references, a scalar gate, a projection.
    Detailed branch: a 1x1 projection per position gives 16 tokens per reference; a pre-norm transformer
    reads the tokens of all references together; their mean is the detailed style and, through an MLP
    head, the embedding the supervised contrastive loss trains.
    """

    def __init__(self, backbone: str = "resnet10t", dim: int = 256, layers: int = 2, heads: int = 4,
                 nce_dim: int = 128, resolution: int = 64) -> None:
        super().__init__()
        self.backbone, ch = create_backbone(backbone, 1, stage=3, where="dsfgan backbone")
        with torch.no_grad():
            self.grid = tuple(self.backbone(torch.zeros(1, 1, resolution, resolution))[-1].shape[-2:])
        self.gate = nn.Linear(ch, 1)
        self.global_proj = nn.Linear(ch, dim)
        self.token_proj = nn.Conv2d(ch, dim, 1)
        self.pos = nn.Parameter(torch.randn(1, self.grid[0] * self.grid[1], dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.nce_head = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, nce_dim))
        self.dim = dim

    def forward(self, refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``refs`` [B, K, 1, H, W] -> (global [B, dim], detailed [B, dim], contrastive embedding [B, nce_dim])."""
        b, k = refs.shape[:2]
        feat = self.backbone(refs.flatten(0, 1))[-1]  # [B*K, C, h, w]
        pooled = feat.float().mean((2, 3)).view(b, k, -1).mean(1)
        pooled = pooled * torch.sigmoid(self.gate(pooled))
        glob = self.global_proj(pooled)
        tokens = self.token_proj(feat).flatten(2).transpose(1, 2) + self.pos  # [B*K, hw, dim]
        tokens = self.transformer(tokens.reshape(b, -1, self.dim))  # attention across all references
        detail = tokens.mean(1)
        return glob, detail, F.normalize(self.nce_head(detail).float(), dim=-1)


class Denorm(nn.Module):
    """MetaScript's denormalisation: a learned per-pixel mask mixes structure- and style-modulated features."""

    def __init__(self, ch: int, s_ch: int, z_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(ch, affine=False)
        self.s_gamma, self.s_beta = nn.Conv2d(s_ch, ch, 1), nn.Conv2d(s_ch, ch, 1)
        self.z_gamma, self.z_beta = nn.Linear(z_dim, ch), nn.Linear(z_dim, ch)
        self.mask = nn.Conv2d(ch, 1, 1)

    def forward(self, h: torch.Tensor, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        hn = self.norm(h)
        a_s = self.s_gamma(s) * hn + self.s_beta(s)
        a_z = self.z_gamma(z)[:, :, None, None] * hn + self.z_beta(z)[:, :, None, None]
        m = torch.sigmoid(self.mask(hn))
        return (1 - m) * a_s + m * a_z


class DenormBlock(nn.Module):
    """Residual block of two (denorm, ReLU, 3x3 conv) units; a third on the shortcut when widths change."""

    def __init__(self, cin: int, cout: int, s_ch: int, z_dim: int) -> None:
        super().__init__()
        self.n1, self.c1 = Denorm(cin, s_ch, z_dim), nn.Conv2d(cin, cin, 3, 1, 1)
        self.n2, self.c2 = Denorm(cin, s_ch, z_dim), nn.Conv2d(cin, cout, 3, 1, 1)
        self.sn = Denorm(cin, s_ch, z_dim) if cin != cout else None
        self.sc = nn.Conv2d(cin, cout, 3, 1, 1) if cin != cout else None

    def forward(self, h: torch.Tensor, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.c1(F.relu(self.n1(h, s, z)))
        out = self.c2(F.relu(self.n2(out, s, z)))
        skip = h if self.sc is None or self.sn is None else self.sc(F.relu(self.sn(h, s, z)))
        return out + skip


class Decoder(nn.Module):
    """Denormalisation decoder: 4 px -> 64 px; detailed style in the coarse blocks, global in the fine ones."""

    def __init__(self, s_channels: tuple[int, ...], widths: tuple[int, ...] = (256, 192, 128, 64, 32),
                 dim: int = 256, global_blocks: int = 2) -> None:
        super().__init__()
        self.start = nn.Linear(dim, widths[0] * 16)
        outs = (*widths[1:], widths[-1])
        self.blocks = nn.ModuleList(DenormBlock(a, b, s, dim) for a, b, s in zip(widths, outs, s_channels,
                                                                                  strict=True))
        self.n_detail = len(widths) - global_blocks
        self.out = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU(True), nn.Conv2d(widths[-1], 1, 3, 1, 1))
        self.w0 = widths[0]

    def forward(self, structure: list[torch.Tensor], glob: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
        """Structure maps (batch B) and style vectors ``[B, dim]``, or ``[1, dim]`` for one writer's whole batch
        (its modulations are then computed once and broadcast) -> glyphs ``[B, 1, 64, 64]``."""
        h = self.start(detail).view(-1, self.w0, 4, 4).expand(structure[0].shape[0], -1, -1, -1)
        for i, (block, s) in enumerate(zip(self.blocks, structure, strict=True)):
            if i:
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = block(h, s, detail if i < self.n_detail else glob)
        return torch.tanh(self.out(h))


class Generator(nn.Module):
    """(template [B,1,64,64], references [B,K,1,64,64]) -> glyph [B,1,64,64] in [-1, 1], ink = +1."""

    def __init__(self, backbone: str = "resnet10t", content_widths: tuple[int, ...] = (16, 32, 64, 128, 256),
                 decoder_widths: tuple[int, ...] = (256, 192, 128, 64, 32), dim: int = 256, layers: int = 2,
                 heads: int = 4, nce_dim: int = 128, global_blocks: int = 2) -> None:
        super().__init__()
        self.content = ContentEncoder(tuple(content_widths))  # type: ignore[arg-type]
        self.style = StyleEncoder(backbone, dim, layers, heads, nce_dim)
        self.decoder = Decoder(self.content.channels, tuple(decoder_widths), dim, global_blocks)

    def encode_style(self, refs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """References [B, K, 1, H, W] -> (global, detailed, contrastive embedding)."""
        return self.style(refs)

    def synthesize(self, template: torch.Tensor, glob: torch.Tensor, detail: torch.Tensor
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The glyph for ``template`` in the given style, and the template's structure maps."""
        structure = self.content(template)
        return self.decoder(structure, glob, detail), structure

    def forward(self, template: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
        glob, detail, _ = self.encode_style(refs)
        return self.synthesize(template, glob, detail)[0]


class Discriminator(nn.Module):
    """Patch discriminator with spectral norm on (glyph, template) pairs: 4x4 real/fake logits."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 256), with_template: bool = True) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        cin = 2 if with_template else 1
        layers: list[nn.Module] = []
        for w in widths:
            layers += [sn(nn.Conv2d(cin, w, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            cin = w
        layers += [sn(nn.Conv2d(cin, 1, 3, 1, 1))]
        self.net = nn.Sequential(*layers)
        self.with_template = with_template

    def forward(self, x: torch.Tensor, template: torch.Tensor) -> torch.Tensor:
        if self.with_template:
            x = torch.cat([x, template], 1)
        return self.net(x).flatten(1)


class Recognizer(nn.Module):
    """A small VGG-style character classifier (the content loss's teacher; not the evaluation judge)."""

    def __init__(self, n_classes: int, widths: tuple[int, ...] = (32, 64, 128, 256)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
                       nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True), nn.MaxPool2d(2)]
            cin = w
        self.features = nn.Sequential(*layers)
        # A 1x1 reduction keeps the 4x4 layout (where strokes are) without a 4,096-wide classifier.
        self.head = nn.Sequential(nn.Conv2d(cin, 64, 1), nn.ReLU(True), nn.Flatten(), nn.Dropout(0.2),
                                  nn.Linear(64 * 16, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def supcon(emb: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, "all" mode) on L2-normalised embeddings.

    ``emb`` [N, V, D] holds V views per sample; every other view with the same label is a positive.
    """
    n, v, _ = emb.shape
    feats = emb.reshape(n * v, -1).float()
    lab = labels.repeat_interleave(v)
    logits = feats @ feats.t() / temperature
    self_mask = torch.eye(n * v, dtype=torch.bool, device=emb.device)
    logits = logits.masked_fill(self_mask, -1e9)
    pos = (lab[:, None] == lab[None, :]) & ~self_mask
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return -(log_prob * pos).sum(1).div(pos.sum(1).clamp(min=1)).mean()
