"""The MAC / activation / parameter counter against hand counts and against fvcore."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trt_panoptic.bench.flops import conv_macs, count_cost


def test_conv_counts_match_hand_counts_incl_dilated_grouped_and_transposed():
    x = torch.randn(1, 8, 16, 16)
    cases = [
        # (module, hand count: output positions × taps per output, or input positions × taps for transposed)
        (nn.Conv2d(8, 4, 3, padding=1), (4 * 16 * 16) * (8 * 3 * 3)),
        # dilation 2: same number of taps per output, the output stays 16×16 with padding 2
        (nn.Conv2d(8, 4, 3, padding=2, dilation=2), (4 * 16 * 16) * (8 * 3 * 3)),
        # groups 4: every output channel sees 8/4 = 2 input channels
        (nn.Conv2d(8, 12, 3, padding=1, groups=4), (12 * 16 * 16) * (2 * 3 * 3)),
        # stride 2, no padding, 1×1: output 8×8
        (nn.Conv2d(8, 6, 1, stride=2), (6 * 8 * 8) * 8),
        # transposed 2×2 stride 2: every input element writes a 2×2 patch to 4 output channels
        (nn.ConvTranspose2d(8, 4, 2, stride=2), (8 * 16 * 16) * (4 * 2 * 2)),
        # transposed, grouped (2 groups): each input element reaches 6/2 = 3 output channels × 3×3 taps
        (nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, groups=2), (8 * 16 * 16) * (3 * 3 * 3)),
    ]
    for module, hand in cases:
        report = count_cost(module, x)
        assert report.macs == hand, module
        assert report.params == sum(p.numel() for p in module.parameters())


def test_linear_and_matmul_count_n_k_m():
    lin = nn.Linear(32, 10)
    assert count_cost(lin, torch.randn(5, 32)).macs == 5 * 32 * 10  # addmm
    assert count_cost(lin, torch.randn(2, 3, 32)).macs == 2 * 3 * 32 * 10  # 3-d input: mm after view

    class BatchedMatmul(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.bmm(a, b)

    assert count_cost(BatchedMatmul(), (torch.randn(4, 3, 7), torch.randn(4, 7, 2))).macs == 4 * 3 * 7 * 2


def test_transposed_conv_count_equals_the_convolution_it_is_the_adjoint_of():
    # A transposed conv is the adjoint of a conv: same weight tensor, same multiplications.
    conv = nn.Conv2d(4, 8, 3, stride=2, padding=1)
    tconv = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
    big, small = torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8)
    assert conv(big).shape == small.shape and tconv(small).shape == big.shape
    assert count_cost(conv, big).macs == count_cost(tconv, small).macs


class _Stack(nn.Module):
    """backbone: conv → in-place ReLU → conv; head: functional 2× upsample + residual add, then a 1×1 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(8, 8, 3, padding=1))
        self.head = nn.Conv2d(8, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        up = F.interpolate(f, scale_factor=2.0, mode="bilinear", align_corners=False)
        up = up + up.mean()  # functional ops in the root's forward: charged to group ""
        return self.head(up).flatten(1)


def test_activation_bytes_count_every_new_tensor_once_and_skip_views_and_inplace():
    report = count_cost(_Stack(), torch.randn(2, 3, 8, 8))
    n = 2
    backbone = (8 * 8 * 8) * 2  # two conv outputs; the in-place ReLU allocates nothing
    root = 8 * 16 * 16 + 1 + 8 * 16 * 16  # interpolate, mean (a scalar), add; flatten is a view
    head = 5 * 16 * 16
    assert report.groups["backbone"].activation_bytes == 4 * n * backbone
    assert report.groups[""].activation_bytes == 4 * (n * root - (n - 1))  # the mean is one scalar
    assert report.groups["head"].activation_bytes == 4 * n * head
    assert report.activation_bytes == sum(g.activation_bytes for g in report.groups.values())
    assert report.groups["backbone"].macs == n * (8 * 8 * 8 * 3 * 9 + 8 * 8 * 8 * 8 * 9)
    assert report.groups["head"].macs == n * 5 * 16 * 16 * 8
    assert report.groups[""].macs == 0
    assert report.groups["head"].params == 8 * 5 + 5
    assert report.modules == {"backbone.0": n * 8 * 8 * 8 * 3 * 9, "backbone.2": n * 8 * 8 * 8 * 8 * 9, "head": n * 5 * 16 * 16 * 8}


def test_group_prefixes_regroup_modules_and_meta_tensors_give_the_same_counts():
    model = _Stack()
    x = torch.randn(1, 3, 8, 8)
    real = count_cost(model, x, groups={"backbone.2": "decoder"})
    assert set(real.groups) == {"backbone", "decoder", "head", ""}
    assert real.groups["decoder"].macs == 8 * 8 * 8 * 8 * 9
    meta = count_cost(_Stack().to("meta"), x.to("meta"), groups={"backbone.2": "decoder"})
    assert (meta.macs, meta.activation_bytes, meta.params) == (real.macs, real.activation_bytes, real.params)


def test_conv_macs_rejects_nothing_silently_for_3d_convs():
    # The formula is dimension-agnostic: a 3-d conv counts out.numel() × C_in × k³.
    conv = nn.Conv3d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 4, 4, 4)
    assert count_cost(conv, x).macs == conv_macs(x.shape, conv.weight.shape, (1, 3, 4, 4, 4), False) == 3 * 64 * 2 * 27


# --- cross-check against fvcore on an ImageNet ResNet-50 (written here, independent of the product) ---


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv2, self.bn2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


def _resnet50_classifier() -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for i, (blocks, mid) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for b in range(blocks):
            layers.append(_Bottleneck(cin, mid, mid * 4, 2 if (b == 0 and i > 0) else 1))
            cin = mid * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers).eval()


class _ProjectResNet50Classifier(nn.Module):
    """The project's ResNet-50 (trt_panoptic.modeling) + global pool + fc: the model we actually count."""

    def __init__(self) -> None:
        super().__init__()
        from trt_panoptic.modeling.backbone.resnet import ResNet

        self.body = ResNet(depth=50, norm="FrozenBN")
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.body(x)["res5"], 1).flatten(1))


@pytest.mark.parametrize("build", [_resnet50_classifier, _ProjectResNet50Classifier], ids=["minimal", "project"])
def test_resnet50_at_224_matches_fvcore_within_one_percent(build):
    fvcore_nn = pytest.importorskip("fvcore.nn", reason="fvcore is the independent reference (pip install fvcore)")
    model = build().eval()
    x = torch.randn(1, 3, 224, 224)
    ours = count_cost(model, x).macs
    analysis = fvcore_nn.FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    theirs = by_op["conv"] + by_op["linear"]  # fvcore's "flops" are multiply-adds
    assert abs(ours - theirs) / theirs < 0.01
    assert abs(ours - 4.09e9) / 4.09e9 < 0.01  # the well-known 4.09 GMACs (4.1 GFLOPs in torchvision's docs)
