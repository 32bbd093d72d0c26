import pytest
import torch

from trt_panoptic.config import config_from_dict, load_config
from trt_panoptic.modeling.backbone import FPN, ResNet, build_fpn_backbone


def test_fpn_levels_and_strides_at_512():
    cfg = config_from_dict({"model": {"backbone": {"resnet": {"depth": 18, "width_mult": 0.25, "norm": "BN"}, "fpn": {"out_channels": 32}}}})
    fpn = build_fpn_backbone(cfg.model).eval()
    with torch.no_grad():
        out = fpn(torch.randn(1, 3, 512, 512))
    assert list(out) == ["p2", "p3", "p4", "p5", "p6"]
    for name, stride in zip(out, (4, 8, 16, 32, 64)):
        assert out[name].shape == (1, 32, 512 // stride, 512 // stride)
        assert fpn.strides[name] == stride


@pytest.mark.parametrize("depth,blocks", [(18, 8), (34, 16), (50, 16), (101, 33)])
def test_resnet_depths(depth, blocks):
    net = ResNet(depth=depth, width_mult=0.125, norm="FrozenBN")
    n = sum(len(getattr(net, s)) for s in net.stage_names)
    assert n == blocks
    expected = [32, 64, 128, 256] if depth >= 50 else [8, 16, 32, 64]
    assert [net.out_channels[s] for s in net.stage_names] == expected


def test_resnet50_parameter_count_matches_the_paper_backbone():
    # ResNet-50 without the classifier: 23,508,032 parameters (torchvision resnet50 minus fc).
    net = ResNet(depth=50, norm="BN")
    assert sum(p.numel() for p in net.parameters()) == 23_508_032


def test_dilated_stages_keep_resolution():
    net = ResNet(depth=18, width_mult=0.25, norm="BN", dilations=(1, 1, 2, 4)).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 128))
    assert out["res5"].shape[-1] == 128 // 8
    assert net.strides["res5"] == 8


def test_gn_backbone_normalizes_each_group():
    cfg = config_from_dict({"model": {"backbone": {"resnet": {"depth": 18, "norm": "GN", "width_mult": 0.5}}}})
    fpn = build_fpn_backbone(cfg.model).eval()
    stem = fpn.bottom_up.stem.conv1
    assert isinstance(stem.norm, torch.nn.GroupNorm)
    with torch.no_grad():
        y = stem(torch.randn(2, 3, 64, 64) * 50 + 10)  # conv + GN (weight 1, bias 0 at init)
        out = fpn(torch.randn(1, 3, 64, 64))
    groups = y.view(2, 32, -1)
    torch.testing.assert_close(groups.mean(-1), torch.zeros(2, 32), atol=1e-4, rtol=0)
    torch.testing.assert_close(groups.var(-1, unbiased=False), torch.ones(2, 32), atol=1e-2, rtol=0)
    assert out["p2"].shape == (1, cfg.model.backbone.fpn.out_channels, 16, 16) and torch.isfinite(out["p2"]).all()


def test_fpn_rejects_sizes_not_divisible_by_32():
    fpn = build_fpn_backbone(load_config("r18_fpn_tiny").model)
    with pytest.raises(ValueError, match="multiples of 32"):
        fpn(torch.randn(1, 3, 100, 96))
    assert isinstance(fpn, FPN)
