"""The generator folded for writing: the same glyphs as :class:`~.model.Generator` in eval mode, less work.

Writing is inference with one writer's style, so much of the generator's arithmetic is constant and can be
done once, in the weights, rather than for every pixel of every glyph:

* the content encoder's batch norms (running statistics) fold into the convolutions before them;
* every denormalisation (MetaScript's, :class:`~.model.Denorm`) normalises with running statistics and then
  scales and shifts by maps computed from the structure ``s`` and vectors computed from the style ``z``. The
  normalisation folds into those maps' 1x1 convolutions and into the mask's; the style's scale and shift are one
  vector per writer, computed once per call; the structure's scale and shift of all the (two or three)
  denormalisations of a block come from one 1x1 convolution instead of six;
* what is left per pixel is two fused multiply-adds and one interpolation by the mask (``addcmul``, ``lerp``)
  instead of eight passes over the feature map.

Measured on the 2-core AMD EPYC of the development machine (fp32, 16 templates a pass): 85-93 characters/s for the
generator unfolded, 118-127 folded; 212-230 folded in bf16 (docs/benchmarks.md). The outputs match the unfolded
generator's to about 1e-5 in fp32.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .model import ContentEncoder, Decoder, DenormBlock, Generator


def _folded_conv_bn(seq: nn.Sequential, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple, float]:
    """A (conv without bias, BatchNorm2d, LeakyReLU) unit as one convolution's weight and bias, and its slope."""
    conv, bn, act = seq[0], seq[1], seq[2]
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = (conv.weight * scale[:, None, None, None]).to(dtype).contiguous(memory_format=torch.channels_last)
    bias = (bn.bias - bn.running_mean * scale).to(dtype)
    return weight, bias, conv.stride, conv.padding, act.negative_slope


class _ConvAct(nn.Module):
    def __init__(self, seq: nn.Sequential, dtype: torch.dtype) -> None:
        super().__init__()
        weight, bias, self.stride, self.padding, self.slope = _folded_conv_bn(seq, dtype)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu_(F.conv2d(x, self.weight, self.bias, self.stride, self.padding), self.slope)


class _Conv(nn.Module):
    """A copy of a convolution in ``dtype``, laid out channels_last."""

    def __init__(self, conv: nn.Conv2d, dtype: torch.dtype) -> None:
        super().__init__()
        weight = conv.weight.detach().to(dtype, copy=True).contiguous(memory_format=torch.channels_last)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().to(dtype, copy=True))
        self.stride, self.padding = conv.stride, conv.padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)


class _Content(nn.Module):
    """:class:`~.model.ContentEncoder` with its batch norms folded (the same maps, in the same order)."""

    def __init__(self, c: ContentEncoder, dtype: torch.dtype) -> None:
        super().__init__()
        self.d0, self.d1, self.d3, self.d4 = (_ConvAct(m, dtype) for m in (c.d0, c.d1, c.d3, c.d4))
        self.d2 = _ConvAct(c.d2[0], dtype)
        self.attention = copy.deepcopy(c.d2[1]).to(dtype)
        self.u3, self.u2, self.u1, self.u0 = (_ConvAct(m, dtype) for m in (c.u3, c.u2, c.u1, c.u0))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        up = ContentEncoder._up
        d0 = self.d0(x)
        d1 = self.d1(d0)
        d2 = self.attention(self.d2(d1))
        d3 = self.d3(d2)
        d4 = self.d4(d3)
        s1 = torch.cat([self.u3(up(d4)), d3], 1)
        s2 = torch.cat([self.u2(up(s1)), d2], 1)
        s3 = torch.cat([self.u1(up(s2)), d1], 1)
        s4 = torch.cat([self.u0(up(s3)), d0], 1)
        return [d4, s1, s2, s3, s4]


class _Block(nn.Module):
    """:class:`~.model.DenormBlock` with its denormalisations folded; the 3x3 convolutions are the block's own."""

    def __init__(self, block: DenormBlock, dtype: torch.dtype) -> None:
        super().__init__()
        # The style's (per writer) parts of each denormalisation, copied: a later change to the generator (adapting
        # to another writer) must not reach a folded copy it did not build.
        self.norms = nn.ModuleList(copy.deepcopy(d) for d in (block.n1, block.n2, block.sn) if d is not None)
        weights, biases, masks, self.affine = [], [], [], []
        for d in self.norms:
            # hn = a * h + b with the running statistics (the norm has no affine part of its own).
            a = torch.rsqrt(d.norm.running_var + d.norm.eps)
            b = -d.norm.running_mean * a
            wg, bg = d.s_gamma.weight[:, :, 0, 0], d.s_gamma.bias
            wb, bb = d.s_beta.weight[:, :, 0, 0], d.s_beta.bias
            # gamma(s) * hn + beta(s) = [a * gamma(s)] * h + [b * gamma(s) + beta(s)]: two 1x1 convolutions of s.
            weights += [a[:, None] * wg, b[:, None] * wg + wb]
            biases += [a * bg, b * bg + bb]
            mw = d.mask.weight[0, :, 0, 0]
            masks.append(((mw * a)[None, :, None, None].to(dtype).contiguous(memory_format=torch.channels_last),
                          (d.mask.bias + (mw * b).sum()).to(dtype)))
            self.affine.append((a, b))
        self.register_buffer("s_weight", torch.cat(weights)[:, :, None, None].to(dtype).contiguous(
            memory_format=torch.channels_last))
        self.register_buffer("s_bias", torch.cat(biases).to(dtype))
        self.splits = [w.shape[0] for w in weights]
        self.masks = masks
        self.c1, self.c2 = _Conv(block.c1, dtype), _Conv(block.c2, dtype)
        self.sc = None if block.sc is None else _Conv(block.sc, dtype)

    def style(self, z: torch.Tensor, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The style's scale and shift of each denormalisation, the normalisation folded in: ``[1, C, 1, 1]`` each."""
        out = []
        for d, (a, b) in zip(self.norms, self.affine, strict=True):
            zg, zb = d.z_gamma(z), d.z_beta(z)
            out.append(((zg * a)[:, :, None, None].to(dtype), (zg * b + zb)[:, :, None, None].to(dtype)))
        return out

    def forward(self, h: torch.Tensor, s: torch.Tensor, z: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        maps = F.conv2d(s, self.s_weight, self.s_bias).split(self.splits, 1)

        def denorm(i: int, x: torch.Tensor) -> torch.Tensor:
            by_structure = torch.addcmul(maps[2 * i + 1], maps[2 * i], x)
            by_style = torch.addcmul(z[i][1], z[i][0], x)
            mask = torch.sigmoid(F.conv2d(x, *self.masks[i]))
            return torch.lerp(by_structure, by_style, mask)  # (1 - m) * structure's + m * style's

        out = self.c1(F.relu_(denorm(0, h)))
        out = self.c2(F.relu_(denorm(1, out)))
        skip = h if self.sc is None else self.sc(F.relu_(denorm(2, h)))
        return out + skip


class FusedGenerator(nn.Module):
    """A folded copy of a generator's content encoder and decoder for writing (the style encoder is not needed:
    the style vectors come in). Build it again after the generator's weights change (adaptation, training).

    :param dtype: float32, or bfloat16 where the CPU or GPU computes it natively (weights and maps in bf16).
    """

    def __init__(self, g: Generator, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        with torch.no_grad():
            self.content = _Content(g.content, dtype)
            dec: Decoder = g.decoder
            self.blocks = nn.ModuleList(_Block(b, dtype) for b in dec.blocks)
        # The first and last layers run once per writer and once per glyph on one channel: kept as they are.
        self.start, self.out = copy.deepcopy(dec.start), copy.deepcopy(dec.out)
        self.w0, self.n_detail = dec.w0, dec.n_detail
        self.dtype = dtype

    @torch.no_grad()
    def style(self, glob: torch.Tensor, detail: torch.Tensor) -> tuple[torch.Tensor, list]:
        """What one writer's style vectors (``[1, dim]`` each) mean for every block: computed once per writer."""
        glob, detail = glob.float(), detail.float()
        with torch.autocast(glob.device.type, enabled=False):
            start = self.start(detail).view(-1, self.w0, 4, 4).to(self.dtype)
            per_block = [b.style(detail if i < self.n_detail else glob, self.dtype)
                         for i, b in enumerate(self.blocks)]
        return start, per_block

    @torch.no_grad()
    def forward(self, templates: torch.Tensor, style: tuple[torch.Tensor, list]) -> torch.Tensor:
        """Templates ``[B, 1, 64, 64]`` in [-1, 1] (ink = +1) -> glyphs in [-1, 1], float32."""
        with torch.autocast(templates.device.type, enabled=False):  # the folded weights' dtype is the one used
            return self._forward(templates, style)

    def _forward(self, templates: torch.Tensor, style: tuple[torch.Tensor, list]) -> torch.Tensor:
        start, per_block = style
        structure = self.content(templates.to(self.dtype).contiguous(memory_format=torch.channels_last))
        h = start.expand(len(templates), -1, -1, -1)
        for i, (block, s) in enumerate(zip(self.blocks, structure, strict=True)):
            if i:
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = block(h, s, per_block[i])
        if self.dtype != torch.float32:
            h = h.float()
        return torch.tanh(self.out(h))
