"""Feature Pyramid Network (Lin et al. 2017) over the ResNet stages: P2–P5 plus P6 for the RPN."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.modeling.backbone.resnet import ResNet
from trt_panoptic.modeling.layers import ConvNorm, xavier_fill


class FPN(nn.Module):
    """ResNet + FPN. Returns ``{"p2": stride 4, ..., "p5": stride 32, "p6": stride 64}``.

    Lateral 1×1 convs bring every stage to ``out_channels``; the top-down path adds the 2× nearest-upsampled
    coarser map; a 3×3 conv smooths each sum. P6 is a stride-2 subsampling of P5 (max-pool, kernel 1),
    used only by the RPN for the largest anchors.
    """

    size_divisibility = 32

    def __init__(self, *, bottom_up: ResNet, out_channels: int = 256, norm: str = "") -> None:
        super().__init__()
        self.bottom_up = bottom_up
        self.in_features = list(bottom_up.stage_names)
        self.levels = []
        for name in self.in_features:
            level = bottom_up.strides[name].bit_length() - 1
            lateral = ConvNorm(bottom_up.out_channels[name], out_channels, 1, norm=norm)
            output = ConvNorm(out_channels, out_channels, 3, padding=1, norm=norm)
            xavier_fill(lateral)
            xavier_fill(output)
            self.add_module(f"fpn_lateral{level}", lateral)
            self.add_module(f"fpn_output{level}", output)
            self.levels.append(level)
        self.out_channels = out_channels
        self.strides = {f"p{lv}": 2**lv for lv in self.levels + [self.levels[-1] + 1]}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Tensor[N, 3, H, W] (H, W multiples of 32) → dict of pyramid maps Tensor[N, C, H/s, W/s]."""
        if x.dim() != 4 or x.shape[-1] % self.size_divisibility or x.shape[-2] % self.size_divisibility:
            raise ValueError(
                f"FPN input should be Tensor[N, 3, H, W] with H and W multiples of {self.size_divisibility}, "
                f"got shape {tuple(x.shape)} — pad the batch (PanopticFPN.preprocess does)"
            )
        stages = self.bottom_up(x)
        results = []
        prev = None
        for name, level in zip(reversed(self.in_features), reversed(self.levels)):
            lateral = getattr(self, f"fpn_lateral{level}")(stages[name])
            prev = lateral if prev is None else lateral + F.interpolate(prev, scale_factor=2.0, mode="nearest")
            results.insert(0, getattr(self, f"fpn_output{level}")(prev))
        results.append(F.max_pool2d(results[-1], kernel_size=1, stride=2))
        return {f"p{lv}": r for lv, r in zip(self.levels + [self.levels[-1] + 1], results)}
