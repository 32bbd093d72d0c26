"""Building blocks shared by the backbone and heads: normalization layers and a conv with norm + activation."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm with fixed statistics and affine parameters (buffers, never trained).

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``; detectron2's FrozenBN, used with pre-trained
    backbones whose batch statistics are too noisy to update at detection batch sizes.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - eps)

    def forward(self, x: Tensor) -> Tensor:
        if x.requires_grad or torch.onnx.is_in_onnx_export() or x.dtype != self.weight.dtype:
            # training through it, exporting (Mul + Add in the graph, as it always was) or mixed precision
            return self.affine(x)
        # inference: one fused kernel instead of a multiply and an add over the whole feature map
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, training=False,
                            eps=self.eps)

    def affine(self, x: Tensor) -> Tensor:
        """The layer as an explicit per-channel ``x * scale + shift``."""
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.view(1, -1, 1, 1).to(x.dtype) + shift.view(1, -1, 1, 1).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def get_norm(norm: str, channels: int) -> nn.Module | None:
    """``"FrozenBN"``, ``"BN"``, ``"GN"`` (32 groups) or ``""`` (no norm) for ``channels`` channels."""
    if not norm:
        return None
    if norm == "FrozenBN":
        return FrozenBatchNorm2d(channels)
    if norm == "BN":
        return nn.BatchNorm2d(channels)
    if norm == "GN":
        if channels % 32:
            raise ValueError(f"GroupNorm(32) needs channels divisible by 32, got {channels}")
        return nn.GroupNorm(32, channels)
    raise ValueError(f"norm should be one of FrozenBN, BN, GN or '', got {norm!r}")


class ConvNorm(nn.Conv2d):
    """``nn.Conv2d`` followed by an optional norm (submodule ``norm``) and activation.

    Keeping the norm inside the conv module gives state-dict keys ``<conv>.weight`` / ``<conv>.norm.*``,
    the layout detectron2 checkpoints use, so they load by name.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool | None = None,
        norm: str = "",
        activation: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        norm_layer = get_norm(norm, out_channels)
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=(norm_layer is None) if bias is None else bias,
        )
        self.norm = norm_layer
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


def msra_fill(module: nn.Module) -> None:
    """He initialization (fan-out, ReLU gain) of a conv, bias 0."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def xavier_fill(module: nn.Module) -> None:
    """Caffe2's XavierFill (uniform, a=1), bias 0: the FPN and box-head default."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)
