"""The backbone variants of the paper's comparison: shapes, strides, and MAC counts against closed forms.

(``trt_panoptic/modeling/backbone/variants.py`` exists for the benchmark, so its tests live with the bench tests.)
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from trt_panoptic.bench.flops import count_cost
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling.backbone.variants import VARIANTS, VariantSpec, build_variant

TINY = VariantSpec(depth=18, num_classes=5, width_mult=0.5, fpn_channels=32, semantic_dims=32, dilated_head_dims=32)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_maps_an_image_to_full_resolution_logits_from_its_stride(name):
    torch.manual_seed(0)
    model = build_variant(name, TINY).eval()
    seen: list[torch.Size] = []
    predictor = model.head.predictor
    handle = predictor.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].shape))
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    handle.remove()
    assert out.shape == (1, 5, 64, 96)
    assert torch.isfinite(out).all()
    assert seen[0][-2:] == (64 // model.output_stride, 96 // model.output_stride)
    assert model.output_stride == {"resnet": 32, "dilated16": 16, "dilated8": 8, "encdec": 4, "fpn": 4}[name]


def test_dilated_stages_keep_resolution_and_dilate_their_3x3_convs():
    d8 = build_variant("dilated8", TINY)
    for stage, dilation in (("res3", 1), ("res4", 2), ("res5", 4)):
        convs = [m for m in getattr(d8.backbone, stage).modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        assert convs and all(c.dilation == (dilation, dilation) for c in convs)
        assert all(c.stride == (1, 1) for c in convs) or stage == "res3"
    feats = d8.backbone(torch.randn(1, 3, 64, 64))
    assert feats["res5"].shape[-2:] == feats["res3"].shape[-2:] == (8, 8)


def test_unknown_variant_is_a_user_error_naming_the_choices():
    with pytest.raises(TrtPanopticError, match="dilated16"):
        build_variant("dilated4")


def _bottleneck_stage_macs(cin: int, mid: int, cout: int, blocks: int, px_in: int, px_out: int) -> int:
    """MACs of a ResNet bottleneck stage, stride on the 3×3 (conv1 of block 0 runs at the input resolution)."""
    first = cin * mid * px_in + mid * mid * 9 * px_out + mid * cout * px_out + cin * cout * px_out
    rest = (cout * mid + mid * mid * 9 + mid * cout) * px_out
    return first + (blocks - 1) * rest


def test_r50_backbone_macs_match_the_closed_form_for_plain_and_dilated_res5():
    # ResNet-50 at 224×224: stem 112² (7×7, 3→64), res2 at 56², res3 28², res4 14², res5 7² (14² when dilated).
    stem = 3 * 64 * 49 * 112**2
    res2 = _bottleneck_stage_macs(64, 64, 256, 3, 56**2, 56**2)
    res3 = _bottleneck_stage_macs(256, 128, 512, 4, 56**2, 28**2)
    res4 = _bottleneck_stage_macs(512, 256, 1024, 6, 28**2, 14**2)
    res5 = _bottleneck_stage_macs(1024, 512, 2048, 3, 14**2, 7**2)
    res5_dilated = _bottleneck_stage_macs(1024, 512, 2048, 3, 14**2, 14**2)
    x = torch.empty(1, 3, 224, 224, device="meta")
    costs = {}
    for name in ("resnet", "dilated16"):
        with torch.device("meta"):
            model = build_variant(name, VariantSpec(depth=50, num_classes=19))
        costs[name] = count_cost(model, x, groups=model.cost_groups).groups["backbone"].macs
    assert costs["resnet"] == stem + res2 + res3 + res4 + res5  # 4.087 GMACs: fvcore's ResNet-50 minus the fc
    assert costs["dilated16"] == stem + res2 + res3 + res4 + res5_dilated


def test_fpn_variant_splits_backbone_fpn_and_semantic_branch_like_the_hand_count():
    # R50-FPN at 256×256: P2..P5 at 64², 32², 16², 8²; laterals 1×1 C→256 and outputs 3×3 256→256.
    with torch.device("meta"):
        model = build_variant("fpn", VariantSpec(depth=50, num_classes=19))
    report = count_cost(model, torch.empty(1, 3, 256, 256, device="meta"), groups=model.cost_groups)
    px = {2: 64**2, 3: 32**2, 4: 16**2, 5: 8**2}
    cin = {2: 256, 3: 512, 4: 1024, 5: 2048}
    fpn = sum(cin[l] * 256 * px[l] + 256 * 256 * 9 * px[l] for l in px)
    # semantic branch: a 3×3 256→128 at each level's own resolution, then a 128→128 3×3 after each 2× upsample
    # that does not yet reach 1/4: P4 one more (at 1/8), P5 two more (at 1/16 and 1/8)
    branch = sum(256 * 128 * 9 * px[l] for l in px)
    branch += 128 * 128 * 9 * px[3] + 128 * 128 * 9 * (px[4] + px[3])
    branch += 128 * 19 * px[2]  # 1×1 classifier at 1/4
    assert report.groups["decoder"].macs == fpn
    assert report.groups["head"].macs == branch
    assert set(report.groups) == {"backbone", "decoder", "head"}


def test_counting_on_meta_equals_counting_a_real_forward():
    torch.manual_seed(0)
    real_model = build_variant("encdec", TINY).eval()
    real = count_cost(real_model, torch.randn(1, 3, 64, 64), groups=real_model.cost_groups)
    with torch.device("meta"):
        meta_model = build_variant("encdec", TINY).eval()
    meta = count_cost(meta_model, torch.empty(1, 3, 64, 64, device="meta"), groups=meta_model.cost_groups)
    assert real.groups == meta.groups and real.modules == meta.modules
    assert set(real.groups) == {"backbone", "decoder", "head"} and real.groups["decoder"].macs > 0
