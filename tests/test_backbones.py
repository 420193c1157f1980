"""glyph.backbones: the native ResNet-10-T and ConvNeXt-atto are timm's, parameter for parameter and number for number,
and they keep timm (and through it torchvision and torch._dynamo) out of the README's main jobs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from glyph.backbones import ConvNeXtAtto, ResNet10T, create_backbone
from glyph.errors import GlyphError

timm = pytest.importorskip("timm")


def _timm_resnet10t(in_chans: int, stage: int | None) -> torch.nn.Module:
    if stage is None:
        return timm.create_model("resnet10t", pretrained=False, in_chans=in_chans, num_classes=0)
    return timm.create_model("resnet10t", pretrained=False, in_chans=in_chans, features_only=True,
                             out_indices=(stage,))


@pytest.mark.parametrize("stage", [None, 1, 3, 4])
@pytest.mark.parametrize("in_chans", [1, 2])
def test_native_resnet10t_computes_what_timms_does(stage, in_chans):
    reference = _timm_resnet10t(in_chans, stage)
    # Norm statistics and affine parameters away from their initial values, so that eval and train differ.
    gen = torch.Generator().manual_seed(3)
    for m in reference.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
    net, channels = create_backbone("resnet10t", in_chans, stage=stage)
    assert isinstance(net, ResNet10T)
    assert list(net.state_dict()) == list(reference.state_dict())  # weights saved by either load into the other
    net.load_state_dict(reference.state_dict(), strict=True)
    for size in (64, 63):  # an odd size exercises the shortcut's ceil-mode pooling
        x = torch.randn(2, in_chans, size, size, generator=gen)
        for train in (False, True):
            reference.train(train)
            net.train(train)
            want, got = reference(x), net(x)
            if stage is not None:
                assert isinstance(got, list) and len(got) == 1
                want, got = want[-1], got[-1]
                assert got.shape[1] == channels
            else:
                assert got.shape == (2, channels)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_native_resnet10t_starts_where_timms_does():
    """The same seed gives the same initial weights, so training from scratch is unchanged by the switch."""
    torch.manual_seed(11)
    reference = _timm_resnet10t(1, None)
    torch.manual_seed(11)
    net = ResNet10T(1)
    for (name, a), b in zip(reference.state_dict().items(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("in_chans", [1, 2])
def test_native_convnext_atto_computes_what_timms_does(in_chans):
    reference = timm.create_model("convnext_atto", pretrained=False, in_chans=in_chans, num_classes=0)
    gen = torch.Generator().manual_seed(5)
    # Every parameter moved off its initial value (layer scales start at 1e-6, norms at 1 and 0).
    moved = {k: v + 0.1 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in reference.state_dict().items()}
    reference.load_state_dict(moved)
    net, channels = create_backbone("convnext_atto", in_chans)
    assert isinstance(net, ConvNeXtAtto) and channels == reference.num_features == 320
    assert list(net.state_dict()) == list(reference.state_dict())
    net.load_state_dict(moved, strict=True)
    assert [f["num_chs"] for f in net.feature_info] == [f["num_chs"] for f in reference.feature_info]
    for size in (64, 96):
        x = torch.randn(2, in_chans, size, size, generator=gen)
        torch.testing.assert_close(net(x), reference(x), rtol=0, atol=1e-6)
        # The pieces restorecae's skip connections call one by one.
        h, want = net.stem(x), reference.stem(x)
        torch.testing.assert_close(h, want, rtol=0, atol=1e-6)
        for mine, theirs in zip(net.stages, reference.stages, strict=True):
            h, want = mine(h), theirs(want)
            torch.testing.assert_close(h, want, rtol=0, atol=1e-5)
        torch.testing.assert_close(net.forward_head(net.norm_pre(h)), reference.forward_head(reference.norm_pre(want)),
                                   rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="pooled"):
        create_backbone("convnext_atto", 1, stage=2)


def test_native_convnext_atto_starts_like_timms():
    """Same initial distribution: convolutions normal with std 0.02 (truncated at +-2, so in effect not at all),
    zero biases, norms at one and zero, layer scales at 1e-6; the draws differ, as if from another seed."""
    torch.manual_seed(0)
    reference = timm.create_model("convnext_atto", pretrained=False, in_chans=2, num_classes=0).state_dict()
    for name, value in ConvNeXtAtto(2).state_dict().items():
        want = reference[name]
        if name.endswith("weight") and value.dim() == 4:
            assert abs(value.std().item() - 0.02) < 0.004 and abs(want.std().item() - 0.02) < 0.004, name
        else:
            assert torch.equal(value, want), name


def test_other_names_come_from_timm_and_hub_names_are_refused():
    net, channels = create_backbone("resnet18", 1, stage=3)
    assert channels == 256 and not isinstance(net, ResNet10T)
    _, pooled = create_backbone("resnet18", 1)
    assert pooled == 512
    for name in ("hf-hub:someone/model", "timm/resnet18.a1_in1k", "https://example.com/w.pth"):
        with pytest.raises(GlyphError, match="would download"):
            create_backbone(name, 1, where="dsfgan backbone")
    with pytest.raises(GlyphError, match=r"not a timm model.*resnet18"):
        create_backbone("resnet18x", 1)
    with pytest.raises(ValueError, match="stage"):
        ResNet10T(1, stage=5)


@pytest.mark.parametrize("argv, made", [
    (["run", "dsfgan", "--refs", "example:handwriting", "--text", "永和"], ["永.png", "和.png"]),
    (["run", "restorecae", "--input", "example:inscription/damaged"], ["世.png", "report.json"]),
], ids=["dsfgan", "restorecae"])
def test_the_main_jobs_import_neither_timm_nor_torchvision(tmp_path, argv, made):
    """The README's jobs on the bundled examples: timm would cost a second and a half of a few seconds."""
    out = tmp_path / "out"
    code = ("import sys; from glyph.cli.main import main\n"
            f"try: main({[*argv, '--out', str(out)]!r})\n"
            "except SystemExit as e: assert not e.code, e.code\n"
            "print(sorted(m for m in ('timm', 'torchvision', 'torch._dynamo') if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1] == "[]", proc.stderr[-2000:]
    assert all((out / name).is_file() for name in made)
