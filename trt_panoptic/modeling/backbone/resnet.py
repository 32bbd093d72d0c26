"""ResNet bottom-up path (He et al. 2016) with frozen-BN/BN/GN, a width multiplier and dilated stages."""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.modeling.layers import ConvNorm, msra_fill

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}
STAGE_NAMES = ("res2", "res3", "res4", "res5")


class BasicBlock(nn.Module):
    """Two 3×3 convs (ResNet-18/34)."""

    def __init__(self, in_channels: int, out_channels: int, *, stride: int, dilation: int, norm: str) -> None:
        super().__init__()
        self.shortcut = (
            ConvNorm(in_channels, out_channels, 1, stride=stride, norm=norm) if in_channels != out_channels or stride != 1 else None
        )
        self.conv1 = ConvNorm(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, norm=norm)
        self.conv2 = ConvNorm(out_channels, out_channels, 3, padding=dilation, dilation=dilation, norm=norm)
        for m in (self.conv1, self.conv2, self.shortcut):
            if m is not None:
                msra_fill(m)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(F.relu_(self.conv1(x)))
        return F.relu_(out + (self.shortcut(x) if self.shortcut is not None else x))


class BottleneckBlock(nn.Module):
    """1×1 → 3×3 → 1×1 (ResNet-50/101). ``stride_in_1x1`` puts the stride on the first 1×1 (MSRA weights)."""

    def __init__(
        self, in_channels: int, out_channels: int, *, bottleneck_channels: int, stride: int, dilation: int,
        norm: str, num_groups: int = 1, stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        self.shortcut = (
            ConvNorm(in_channels, out_channels, 1, stride=stride, norm=norm) if in_channels != out_channels else None
        )
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = ConvNorm(in_channels, bottleneck_channels, 1, stride=s1, norm=norm)
        self.conv2 = ConvNorm(
            bottleneck_channels, bottleneck_channels, 3, stride=s3, padding=dilation, dilation=dilation,
            groups=num_groups, norm=norm,
        )
        self.conv3 = ConvNorm(bottleneck_channels, out_channels, 1, norm=norm)
        for m in (self.conv1, self.conv2, self.conv3, self.shortcut):
            if m is not None:
                msra_fill(m)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu_(self.conv1(x))
        out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        return F.relu_(out + (self.shortcut(x) if self.shortcut is not None else x))


class BasicStem(nn.Module):
    """7×7 stride-2 conv + norm + ReLU + 3×3 stride-2 max-pool: stride 4."""

    def __init__(self, in_channels: int, out_channels: int, *, norm: str) -> None:
        super().__init__()
        self.conv1 = ConvNorm(in_channels, out_channels, 7, stride=2, padding=3, norm=norm)
        msra_fill(self.conv1)

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(F.relu_(self.conv1(x)), kernel_size=3, stride=2, padding=1)


class ResNet(nn.Module):
    """ResNet returning the stage outputs ``res2``..``res5`` as a dict.

    Args:
        depth: 18, 34, 50 or 101.
        norm: "FrozenBN", "BN" or "GN".
        width_mult: scales every channel count (CPU-sized models use 0.25–0.5).
        stem_channels: stem output width before ``width_mult``.
        res2_channels: res2 output width before ``width_mult``; 0 = 64 (basic blocks) or 256 (bottleneck).
        bottleneck_channels: res2 bottleneck width (groups × width per group) before ``width_mult``.
        num_groups: groups of the 3×3 conv (ResNeXt); 1 for ResNet.
        stride_in_1x1: stride on the first 1×1 of a bottleneck (detectron2's MSRA weights) instead of the 3×3.
        dilations: dilation of res2..res5; a dilated stage keeps its input resolution (DeepLab).
    """

    def __init__(
        self,
        *,
        depth: int = 50,
        norm: str = "FrozenBN",
        width_mult: float = 1.0,
        stem_channels: int = 64,
        res2_channels: int = 0,
        bottleneck_channels: int = 64,
        num_groups: int = 1,
        stride_in_1x1: bool = False,
        dilations: tuple[int, int, int, int] = (1, 1, 1, 1),
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if depth not in BLOCKS_PER_STAGE:
            raise ValueError(f"ResNet depth should be one of {sorted(BLOCKS_PER_STAGE)}, got {depth}")
        basic = depth in (18, 34)
        stem = int(round(stem_channels * width_mult))
        out = int(round((res2_channels or (64 if basic else 256)) * width_mult))
        bottleneck = int(round(bottleneck_channels * width_mult))
        self.stem = BasicStem(in_channels, stem, norm=norm)
        self.stage_names = STAGE_NAMES
        self.out_channels: dict[str, int] = {}
        self.strides: dict[str, int] = {}
        channels, stride = stem, 4
        for i, (name, blocks) in enumerate(zip(STAGE_NAMES, BLOCKS_PER_STAGE[depth])):
            dilation = dilations[i]
            first_stride = 1 if i == 0 or dilation > 1 else 2
            stage = []
            for b in range(blocks):
                s = first_stride if b == 0 else 1
                if basic:
                    stage.append(BasicBlock(channels, out, stride=s, dilation=dilation, norm=norm))
                else:
                    stage.append(BottleneckBlock(
                        channels, out, bottleneck_channels=bottleneck, stride=s, dilation=dilation, norm=norm,
                        num_groups=num_groups, stride_in_1x1=stride_in_1x1,
                    ))
                channels = out
            self.add_module(name, nn.Sequential(*stage))
            stride *= first_stride
            self.out_channels[name] = out
            self.strides[name] = stride
            out *= 2
            bottleneck *= 2

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Tensor[N, 3, H, W] → {"res2": stride 4, ..., "res5": stride 32 (less when dilated)}."""
        x = self.stem(x)
        outputs = {}
        for name in self.stage_names:
            x = getattr(self, name)(x)
            outputs[name] = x
        return outputs
