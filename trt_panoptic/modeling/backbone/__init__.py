"""Backbones: ResNet bottom-up paths and the FPN over them."""
from trt_panoptic.config import ModelConfig
from trt_panoptic.modeling.backbone.fpn import FPN
from trt_panoptic.modeling.backbone.resnet import ResNet


def build_resnet(cfg: ModelConfig, dilations: tuple[int, int, int, int] = (1, 1, 1, 1)) -> ResNet:
    """The ResNet described by ``cfg.backbone.resnet``."""
    r = cfg.backbone.resnet
    return ResNet(
        depth=r.depth, norm=r.norm, width_mult=r.width_mult, stem_channels=r.stem_channels,
        res2_channels=r.res2_channels, bottleneck_channels=r.bottleneck_channels, num_groups=r.num_groups,
        stride_in_1x1=r.stride_in_1x1, dilations=dilations,
    )


def build_fpn_backbone(cfg: ModelConfig) -> FPN:
    """ResNet + FPN, the backbone of Panoptic FPN."""
    return FPN(bottom_up=build_resnet(cfg), out_channels=cfg.backbone.fpn.out_channels, norm=cfg.backbone.fpn.norm)


__all__ = ["FPN", "ResNet", "build_fpn_backbone", "build_resnet"]
