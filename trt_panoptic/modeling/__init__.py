"""The Panoptic FPN model in PyTorch: ``build_model(cfg) -> PanopticFPN``."""
from __future__ import annotations

from trt_panoptic.config import Config, ModelConfig
from trt_panoptic.modeling.backbone import FPN, ResNet, build_fpn_backbone
from trt_panoptic.modeling.meta_arch import PanopticFPN
from trt_panoptic.modeling.roi_heads import BoxHead, MaskHead, ROIHeads
from trt_panoptic.modeling.rpn import RPN, AnchorGenerator, RPNHead
from trt_panoptic.modeling.semantic_head import SemanticFPNHead
from trt_panoptic.ops import BoxCoder

__all__ = ["FPN", "PanopticFPN", "ResNet", "SemanticFPNHead", "build_model"]


def build_model(cfg: Config | ModelConfig) -> PanopticFPN:
    """Build a :class:`PanopticFPN` from a config; the one place where config fields meet constructor args."""
    m = cfg.model if isinstance(cfg, Config) else cfg
    if m.backbone.variant != "fpn":
        raise ValueError(
            f"PanopticFPN needs backbone.variant 'fpn', got {m.backbone.variant!r}; the other variants are "
            "semantic-only models for the backbone comparison (trt_panoptic.modeling.backbone.variants)"
        )
    backbone = build_fpn_backbone(m)
    channels = backbone.out_channels
    strides = backbone.strides
    sem = m.semantic_head
    semantic_head = SemanticFPNHead(
        in_channels=channels, strides={k: strides[k] for k in ("p2", "p3", "p4", "p5")},
        num_classes=m.num_semantic_classes, conv_dims=sem.conv_dims, norm=sem.norm, common_stride=sem.common_stride,
    )
    r = m.rpn
    rpn_levels = ["p2", "p3", "p4", "p5", "p6"]
    anchors = AnchorGenerator(sizes=r.anchor_sizes, aspect_ratios=r.aspect_ratios, strides=[strides[k] for k in rpn_levels])
    rpn = RPN(
        head=RPNHead(in_channels=channels, num_anchors=anchors.num_anchors), anchor_generator=anchors,
        in_features=rpn_levels, box_coder=BoxCoder(tuple(r.bbox_reg_weights)),
        pre_nms_topk=(r.pre_nms_topk_train, r.pre_nms_topk_test), post_nms_topk=(r.post_nms_topk_train, r.post_nms_topk_test),
        nms_thresh=r.nms_thresh, min_box_size=r.min_box_size, iou_thresholds=tuple(r.iou_thresholds),
        batch_size_per_image=r.batch_size_per_image, positive_fraction=r.positive_fraction,
        smooth_l1_beta=r.smooth_l1_beta, loss_weight=r.loss_weight,
    )
    h = m.roi_heads
    roi_levels = ["p2", "p3", "p4", "p5"]
    roi_heads = ROIHeads(
        box_head=BoxHead(in_channels=channels, resolution=h.box_pooler_resolution, num_classes=m.num_thing_classes,
                         fc_dim=h.box_fc_dim, num_fc=h.box_num_fc),
        mask_head=MaskHead(in_channels=channels, num_classes=m.num_thing_classes, conv_dim=h.mask_conv_dim, num_conv=h.mask_num_conv),
        in_features=roi_levels, strides=[strides[k] for k in roi_levels], num_classes=m.num_thing_classes,
        box_resolution=h.box_pooler_resolution, mask_resolution=h.mask_pooler_resolution,
        sampling_ratio=h.pooler_sampling_ratio, canonical_box_size=h.canonical_box_size, canonical_level=h.canonical_level,
        box_coder=BoxCoder(tuple(h.bbox_reg_weights)), score_thresh=h.score_thresh_test, nms_thresh=h.nms_thresh_test,
        detections_per_image=h.detections_per_image, iou_threshold=h.iou_threshold,
        batch_size_per_image=h.batch_size_per_image, positive_fraction=h.positive_fraction,
        smooth_l1_beta=h.smooth_l1_beta, proposal_append_gt=h.proposal_append_gt,
    )
    p = m.panoptic
    return PanopticFPN(
        backbone=backbone, semantic_head=semantic_head, rpn=rpn, roi_heads=roi_heads,
        pixel_mean=m.input.pixel_mean, pixel_std=m.input.pixel_std, input_format=m.input.format,
        size_divisibility=m.input.size_divisibility, instance_loss_weight=p.instance_loss_weight,
        semantic_loss_weight=sem.loss_weight, ignore_value=sem.ignore_value,
        instance_score_thresh=p.instance_score_thresh, overlap_thresh=p.overlap_thresh, stuff_area_limit=p.stuff_area_limit,
    )
