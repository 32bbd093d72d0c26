import torch

from trt_panoptic.modeling.semantic_head import SemanticFPNHead, upsample_logits

STRIDES = {"p2": 4, "p3": 8, "p4": 16, "p5": 32}


def test_parameter_count_equals_detectron2_semsegfpnhead():
    # detectron2 SemSegFPNHead, 256 in, 128 conv dims, GN, 54 classes (53 COCO stuff + other): 1,630,774.
    head = SemanticFPNHead(in_channels=256, strides=STRIDES, num_classes=54, conv_dims=128, norm="GN")
    assert sum(p.numel() for p in head.parameters()) == 1_630_774


def test_stage_layout_follows_the_paper():
    head = SemanticFPNHead(in_channels=64, strides=STRIDES, num_classes=5, conv_dims=64)
    convs = {name: sum(isinstance(m, torch.nn.Conv2d) for m in getattr(head, name)) for name in STRIDES}
    ups = {name: sum(isinstance(m, torch.nn.Upsample) for m in getattr(head, name)) for name in STRIDES}
    assert convs == {"p2": 1, "p3": 1, "p4": 2, "p5": 3}
    assert ups == {"p2": 0, "p3": 1, "p4": 2, "p5": 3}


def test_output_is_quarter_scale_then_upsampled():
    head = SemanticFPNHead(in_channels=32, strides=STRIDES, num_classes=5, conv_dims=32)
    feats = {k: torch.randn(2, 32, 128 // s, 96 // s) for k, s in STRIDES.items()}
    logits = head(feats)
    assert logits.shape == (2, 5, 32, 24)
    up = upsample_logits(logits)
    assert up.shape == (2, 5, 128, 96)
    # align_corners=False bilinear ×4 of a constant map is the same constant.
    const = torch.full((1, 1, 4, 4), 3.0)
    assert torch.allclose(upsample_logits(const), torch.full((1, 1, 16, 16), 3.0))
