"""The semantic FPN branch of Panoptic FPN (Kirillov et al. 2019, Sec. 3.2)."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.modeling.layers import ConvNorm, msra_fill


class SemanticFPNHead(nn.Module):
    """Merges P2..P5 into one 1/4-scale map and classifies every pixel into stuff + 'other'.

    Each level goes through ``log2(stride / 4)`` stages (at least one) of 3×3 conv + GroupNorm + ReLU, each
    followed by a 2× bilinear upsample while the map is coarser than 1/4; the four 1/4 maps are summed and a
    1×1 conv predicts ``num_classes`` logits (channel 0 = 'other', i.e. any thing pixel). Returns logits at
    1/4 scale; the ×4 upsample lives in :func:`upsample_logits` so export can fuse it with argmax.

    Args:
        in_channels: channels of every pyramid level.
        strides: {"p2": 4, ..., "p5": 32} for the levels used.
        num_classes: stuff classes + 1.
        conv_dims: width of the stages (128 in the paper).
        norm: norm of the stages ("GN" in the paper).
        common_stride: stride the levels are merged at (4).
    """

    def __init__(
        self, *, in_channels: int, strides: dict[str, int], num_classes: int, conv_dims: int = 128,
        norm: str = "GN", common_stride: int = 4,
    ) -> None:
        super().__init__()
        self.in_features = list(strides)
        self.common_stride = common_stride
        for name, stride in strides.items():
            length = max(1, (stride // common_stride).bit_length() - 1)
            layers: list[nn.Module] = []
            for k in range(length):
                conv = ConvNorm(in_channels if k == 0 else conv_dims, conv_dims, 3, padding=1, norm=norm,
                                bias=not norm, activation=F.relu)
                msra_fill(conv)
                layers.append(conv)
                if stride != common_stride:
                    layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.add_module(name, nn.Sequential(*layers))
        self.predictor = nn.Conv2d(conv_dims, num_classes, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        """Pyramid dict → Tensor[N, num_classes, H/4, W/4] logits."""
        x = None
        for name in self.in_features:
            y = getattr(self, name)(features[name])
            x = y if x is None else x + y
        return self.predictor(x)


def upsample_logits(logits: Tensor, scale_factor: int = 4) -> Tensor:
    """1/4-scale logits → input-resolution logits, bilinear, align_corners=False."""
    return F.interpolate(logits, scale_factor=scale_factor, mode="bilinear", align_corners=False)


def semantic_loss(logits: Tensor, targets: Tensor, ignore_value: int = 255) -> Tensor:
    """Per-pixel cross-entropy of upsampled logits Tensor[N, C, H, W] vs int64 targets Tensor[N, H, W]."""
    return F.cross_entropy(logits, targets, ignore_index=ignore_value, reduction="mean")
