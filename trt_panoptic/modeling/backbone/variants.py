"""Semantic-segmentation models over the backbone options Panoptic FPN compares (Kirillov et al. 2019, Fig. 5).

The paper argues for FPN by cost: to get high-resolution features, a dilated ResNet (the DeepLab recipe)
or a symmetric encoder-decoder costs far more compute and memory than FPN's light top-down path plus
its semantic branch. This module builds the five options as semantic-segmentation-only models —
backbone + decoder + classifier, no instance branch — so :mod:`trt_panoptic.bench` can measure that
claim like for like. Every variant maps ``Tensor[N, 3, H, W]`` to logits ``Tensor[N, C, H, W]`` at the
input resolution (bilinear upsampling from its output stride), and has three children: ``backbone``
(the bottom-up ResNet), ``decoder`` (``None`` where there is none) and ``head``.

===========  ==========================================================================  =============
variant      what                                                                         output stride
===========  ==========================================================================  =============
resnet       plain ResNet; head = 1×1 classifier on C5 (FCN-32s-like, the paper's Fig. 5a)   32
dilated16    res5 dilated (dilation 2, first block stride 1); DeepLab-style head on C5       16
dilated8     res4 and res5 dilated (2 and 4); DeepLab-style head on C5                       8
encdec       symmetric decoder (U-Net-like, Fig. 5c): res4, res3, res2 mirrored — same block   4
             type, count and width — each stage fed concat(2× upsampled coarser, skip)
fpn          FPN (P2–P5, 256 ch, the lead's :class:`FPN`) + the paper's semantic branch       4
             (:class:`SemanticFPNHead`, 128 ch, GN) — Fig. 5d
===========  ==========================================================================  =============

Choices made here (the paper gives the architectures, not every head detail):

* DeepLab-style head for the dilated variants: ``dilated_head_convs`` (default 3) 3×3 convs of
  ``dilated_head_dims`` (256) channels with GroupNorm + ReLU, then the 1×1 classifier — "a few 3×3 convs
  at 256 channels", the head size the issue asks for. No ASPP: ASPP would add four 3×3/1×1 branches on
  2048 channels and make the dilated variants even costlier, so this is the conservative choice.
* The encoder-decoder mirrors the bottom-up path up to 1/4 (res2's resolution), not to 1/2 or 1/1, so
  its output stride matches FPN's; its head is a bare 1×1 classifier on the 1/4-scale decoder output.
* Norm: FrozenBN (inference) in the backbone and in the mirrored decoder; GN in the heads (as the
  semantic branch).
* Every variant ends with the same bilinear upsample (align_corners=False) to the input size, so the
  label maps compared are the same size; its output counts towards ``head``.
* ``stride_in_1x1`` is left False (torchvision placement): the MAC count is identical; only where the
  stride is applied changes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.config import BACKBONE_VARIANTS
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.modeling.backbone.fpn import FPN
from trt_panoptic.modeling.backbone.resnet import BasicBlock, BottleneckBlock, ResNet
from trt_panoptic.modeling.layers import ConvNorm, msra_fill
from trt_panoptic.modeling.semantic_head import SemanticFPNHead

VARIANTS = BACKBONE_VARIANTS

# Dilation of res2..res5: DeepLab keeps the resolution of a dilated stage and dilates its 3×3 convs
# by the stride it skipped, so the receptive field matches the undilated network.
_DILATIONS = {
    "resnet": (1, 1, 1, 1),
    "dilated16": (1, 1, 1, 2),
    "dilated8": (1, 1, 2, 4),
    "encdec": (1, 1, 1, 1),
    "fpn": (1, 1, 1, 1),
}


@dataclass(frozen=True)
class VariantSpec:
    """Sizes shared by all variants. ``depth``: 18/34/50/101; ``num_classes``: classifier outputs."""

    depth: int = 50
    num_classes: int = 19
    width_mult: float = 1.0
    norm: str = "FrozenBN"
    head_norm: str = "GN"
    fpn_channels: int = 256
    semantic_dims: int = 128
    dilated_head_convs: int = 3
    dilated_head_dims: int = 256


class ClassifierHead(nn.Module):
    """Optional 3×3 conv stack + 1×1 classifier at the feature stride, then bilinear upsample to the image.

    ``Tensor[N, C_in, H/s, W/s]`` → ``Tensor[N, num_classes, H, W]``.
    """

    def __init__(self, *, in_channels: int, num_classes: int, num_convs: int = 0, conv_dims: int = 256,
                 norm: str = "GN") -> None:
        super().__init__()
        convs: list[nn.Module] = []
        for k in range(num_convs):
            conv = ConvNorm(in_channels if k == 0 else conv_dims, conv_dims, 3, padding=1, norm=norm,
                            activation=F.relu)
            msra_fill(conv)
            convs.append(conv)
        self.convs = nn.Sequential(*convs)
        self.predictor = nn.Conv2d(conv_dims if num_convs else in_channels, num_classes, 1)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:
        logits = self.predictor(self.convs(x))
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class SymmetricDecoder(nn.Module):
    """Mirror of res4, res3, res2: at each scale, concat(2× bilinear upsampled coarser map, skip) → the same
    blocks as the encoder stage of that scale (stride 1). ``{"res2".."res5"}`` → ``Tensor[N, C_res2, H/4, W/4]``.
    """

    def __init__(self, *, bottom_up: ResNet, norm: str) -> None:
        super().__init__()
        names = list(bottom_up.stage_names)  # res2..res5
        self.skips = list(reversed(names[:-1]))  # res4, res3, res2
        channels = bottom_up.out_channels[names[-1]]
        for skip in self.skips:
            encoder_stage: nn.Sequential = getattr(bottom_up, skip)
            out = bottom_up.out_channels[skip]
            blocks: list[nn.Module] = []
            in_ch = channels + out
            for enc_block in encoder_stage:
                if isinstance(enc_block, BottleneckBlock):
                    blocks.append(BottleneckBlock(in_ch, out, bottleneck_channels=enc_block.conv1.out_channels,
                                                  stride=1, dilation=1, norm=norm))
                else:
                    blocks.append(BasicBlock(in_ch, out, stride=1, dilation=1, norm=norm))
                in_ch = out
            self.add_module(skip, nn.Sequential(*blocks))
            channels = out
        self.out_channels = channels

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        x = features["res5"]
        for skip in self.skips:
            up = F.interpolate(x, size=features[skip].shape[-2:], mode="bilinear", align_corners=False)
            x = getattr(self, skip)(torch.cat([up, features[skip]], dim=1))
        return x


class SegmentationVariant(nn.Module):
    """Backbone (+ decoder) + head; ``Tensor[N, 3, H, W]`` → logits ``Tensor[N, num_classes, H, W]``.

    Attributes:
        name: the variant name (one of :data:`VARIANTS`).
        output_stride: stride of the map the classifier runs on (32, 16, 8 or 4).
        cost_groups: module-name prefixes → "backbone" / "decoder" / "head", for
            :func:`trt_panoptic.bench.flops.count_cost`.
    """

    def __init__(self, *, name: str, backbone: nn.Module, decoder: nn.Module | None, head: nn.Module,
                 output_stride: int, cost_groups: dict[str, str]) -> None:
        super().__init__()
        self.name = name
        self.backbone = backbone
        self.decoder = decoder
        self.head = head
        self.output_stride = output_stride
        self.cost_groups = cost_groups

    def forward(self, images: Tensor) -> Tensor:
        size = (images.shape[-2], images.shape[-1])
        if self.name == "fpn":
            logits = self.head(self.backbone(images))  # FPN dict → SemanticFPNHead → 1/4 logits
            return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        features = self.backbone(images)
        if self.decoder is not None:
            return self.head(self.decoder(features), size)
        return self.head(features["res5"], size)


def build_variant(name: str, spec: VariantSpec | None = None) -> SegmentationVariant:
    """The semantic-segmentation model of backbone option ``name`` (see the module docstring).

    Build under ``with torch.device("meta"):`` to count a full-size model without allocating it.
    Inputs must have H and W divisible by 32.
    """
    spec = spec or VariantSpec()
    if name not in VARIANTS:
        raise TrtPanopticError(f"backbone variant should be one of {', '.join(VARIANTS)}, got {name!r} — pick one of those")
    resnet = ResNet(depth=spec.depth, norm=spec.norm, width_mult=spec.width_mult, dilations=_DILATIONS[name])
    c5 = resnet.out_channels["res5"]
    # "" = the variant's own forward (the final upsample of the fpn variant): part of the head.
    groups = {"": "head", "backbone": "backbone", "decoder": "decoder", "head": "head"}
    if name == "fpn":
        fpn = FPN(bottom_up=resnet, out_channels=spec.fpn_channels)
        strides = {k: v for k, v in fpn.strides.items() if k != "p6"}  # P6 exists for the RPN only
        head = SemanticFPNHead(in_channels=spec.fpn_channels, strides=strides, num_classes=spec.num_classes,
                               conv_dims=spec.semantic_dims, norm=spec.head_norm)
        # The FPN owns the ResNet; its laterals, outputs and top-down adds are the "decoder".
        groups = {"": "head", "backbone": "decoder", "backbone.bottom_up": "backbone", "head": "head"}
        return SegmentationVariant(name=name, backbone=fpn, decoder=None, head=head, output_stride=4,
                                   cost_groups=groups)
    if name == "encdec":
        decoder = SymmetricDecoder(bottom_up=resnet, norm=spec.norm)
        head = ClassifierHead(in_channels=decoder.out_channels, num_classes=spec.num_classes)
        return SegmentationVariant(name=name, backbone=resnet, decoder=decoder, head=head, output_stride=4,
                                   cost_groups=groups)
    num_convs = 0 if name == "resnet" else spec.dilated_head_convs
    head = ClassifierHead(in_channels=c5, num_classes=spec.num_classes, num_convs=num_convs,
                          conv_dims=spec.dilated_head_dims, norm=spec.head_norm)
    return SegmentationVariant(name=name, backbone=resnet, decoder=None, head=head,
                               output_stride=resnet.strides["res5"], cost_groups=groups)
