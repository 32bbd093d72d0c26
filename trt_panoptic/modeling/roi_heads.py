"""Mask R-CNN RoI heads (He et al. 2017): box head on 7×7 pooled features, mask head on 14×14."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.modeling.layers import msra_fill, xavier_fill
from trt_panoptic.modeling.rpn import box_regression_loss
from trt_panoptic.modeling.sampling import match_by_iou, subsample_labels
from trt_panoptic.ops import BoxCoder, batched_nms, box_iou, clip_boxes, multilevel_roi_align, roi_align


class BoxHead(nn.Module):
    """Flatten → ``num_fc`` × (FC + ReLU) → class logits (background **last**) and class-specific deltas."""

    def __init__(self, *, in_channels: int, resolution: int, num_classes: int, fc_dim: int = 1024, num_fc: int = 2) -> None:
        super().__init__()
        dim = in_channels * resolution * resolution
        self.fcs = []
        for k in range(num_fc):
            fc = nn.Linear(dim, fc_dim)
            xavier_fill(fc)
            self.add_module(f"fc{k + 1}", fc)
            self.fcs.append(fc)
            dim = fc_dim
        self.cls_score = nn.Linear(dim, num_classes + 1)
        self.bbox_pred = nn.Linear(dim, num_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.constant_(self.cls_score.bias, 0)
        nn.init.constant_(self.bbox_pred.bias, 0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Tensor[R, C, P, P] → (logits Tensor[R, K+1], deltas Tensor[R, K*4])."""
        x = x.flatten(1)
        for fc in self.fcs:
            x = F.relu(fc(x))
        return self.cls_score(x), self.bbox_pred(x)


class MaskHead(nn.Module):
    """``num_conv`` × (3×3 conv + ReLU) → 2× deconv + ReLU → 1×1 conv: class-specific 28×28 mask logits."""

    def __init__(self, *, in_channels: int, num_classes: int, conv_dim: int = 256, num_conv: int = 4) -> None:
        super().__init__()
        self.convs = []
        dim = in_channels
        for k in range(num_conv):
            conv = nn.Conv2d(dim, conv_dim, 3, padding=1)
            msra_fill(conv)
            self.add_module(f"mask_fcn{k + 1}", conv)
            self.convs.append(conv)
            dim = conv_dim
        self.deconv = nn.ConvTranspose2d(dim, conv_dim, kernel_size=2, stride=2)
        msra_fill(self.deconv)
        self.predictor = nn.Conv2d(conv_dim, num_classes, kernel_size=1)
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.constant_(self.predictor.bias, 0)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[R, C, 14, 14] → Tensor[R, K, 28, 28] logits."""
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.predictor(F.relu(self.deconv(x)))


class ROIHeads(nn.Module):
    """Box and mask heads over the FPN levels P2..P5, with training-time proposal sampling and losses.

    Eval returns per image a dict with ``boxes`` Tensor[D, 4], ``scores`` Tensor[D], ``classes`` Tensor[D]
    (0-based) and ``mask_probs`` Tensor[D, 28, 28] (sigmoid of the predicted class's mask), sorted by score.
    """

    def __init__(
        self, *, box_head: BoxHead, mask_head: MaskHead, in_features: list[str], strides: list[int],
        num_classes: int, box_resolution: int = 7, mask_resolution: int = 14, sampling_ratio: int = 0,
        canonical_box_size: int = 224, canonical_level: int = 4, box_coder: BoxCoder = BoxCoder((10.0, 10.0, 5.0, 5.0)),
        score_thresh: float = 0.05, nms_thresh: float = 0.5, detections_per_image: int = 100,
        iou_threshold: float = 0.5, batch_size_per_image: int = 512, positive_fraction: float = 0.25,
        smooth_l1_beta: float = 0.0, proposal_append_gt: bool = True,
    ) -> None:
        super().__init__()
        self.box_head = box_head
        self.mask_head = mask_head
        self.in_features = in_features
        self.strides = strides
        self.num_classes = num_classes
        self.box_resolution = box_resolution
        self.mask_resolution = mask_resolution
        self.sampling_ratio = sampling_ratio
        self.canonical_box_size = canonical_box_size
        self.canonical_level = canonical_level
        self.box_coder = box_coder
        self.score_thresh = score_thresh
        self.nms_thresh = nms_thresh
        self.detections_per_image = detections_per_image
        self.iou_threshold = iou_threshold
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.smooth_l1_beta = smooth_l1_beta
        self.proposal_append_gt = proposal_append_gt

    def pool(self, features: dict[str, Tensor], boxes: list[Tensor], resolution: int) -> Tensor:
        """Multi-level RoIAlign (aligned, adaptive sampling) of per-image boxes → Tensor[R, C, P, P]."""
        return multilevel_roi_align(
            [features[f] for f in self.in_features], boxes, resolution, self.strides, self.sampling_ratio,
            aligned=True, canonical_box_size=self.canonical_box_size, canonical_level=self.canonical_level,
        )

    def forward(
        self, features: dict[str, Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        if self.training:
            assert targets is not None, "roi_heads: training needs targets"
            return [], self.losses(features, proposals, targets)
        return self.inference(features, proposals, image_sizes), {}

    # ---- inference -------------------------------------------------------------------------------------
    def inference(
        self, features: dict[str, Tensor], proposals: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> list[dict[str, Tensor]]:
        logits, deltas = self.box_head(self.pool(features, proposals, self.box_resolution))
        results = []
        start = 0
        for props, size in zip(proposals, image_sizes):
            end = start + props.shape[0]
            results.append(self.detect(logits[start:end], deltas[start:end], props, size))
            start = end
        mask_logits = self.mask_head(self.pool(features, [r["boxes"] for r in results], self.mask_resolution))
        start = 0
        for r in results:
            end = start + r["boxes"].shape[0]
            per_class = mask_logits[start:end]
            idx = torch.arange(per_class.shape[0], device=per_class.device)
            r["mask_probs"] = per_class[idx, r["classes"]].sigmoid()
            start = end
        return results

    def detect(self, logits: Tensor, deltas: Tensor, proposals: Tensor, image_size: tuple[int, int]) -> dict[str, Tensor]:
        """Fast R-CNN inference for one image: softmax, class-specific decode, clip, threshold, per-class NMS."""
        k = self.num_classes
        scores = F.softmax(logits, dim=-1)
        boxes = self.box_coder.decode(deltas, proposals)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
        if not valid.all():
            boxes, scores = boxes[valid], scores[valid]
        scores = scores[:, :-1]
        boxes = clip_boxes(boxes.view(-1, k, 4), image_size)
        keep_mask = scores > self.score_thresh
        rows, cls = keep_mask.nonzero(as_tuple=True)
        boxes, scores = boxes[rows, cls], scores[keep_mask]
        keep = batched_nms(boxes, scores, cls, self.nms_thresh)[: self.detections_per_image]
        return {"boxes": boxes[keep], "scores": scores[keep], "classes": cls[keep]}

    # ---- training --------------------------------------------------------------------------------------
    def sample_proposals(self, proposals: list[Tensor], targets: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """Match proposals (plus the ground truth itself) to targets and sample a fg/bg-balanced subset."""
        sampled = []
        for props, tgt in zip(proposals, targets):
            gt_boxes, gt_classes = tgt["boxes"], tgt["classes"]
            if self.proposal_append_gt:
                props = torch.cat([props, gt_boxes])
            quality = box_iou(gt_boxes, props)
            matches, labels = match_by_iou(quality, [self.iou_threshold], [0, 1])
            classes = gt_classes[matches] if gt_classes.numel() else torch.full_like(matches, self.num_classes)
            classes = torch.where(labels == 0, torch.full_like(classes, self.num_classes), classes)
            pos, neg = subsample_labels(classes, self.batch_size_per_image, self.positive_fraction, self.num_classes)
            idx = torch.cat([pos, neg])
            sampled.append({
                "boxes": props[idx],
                "classes": classes[idx],
                "gt_boxes": gt_boxes[matches[idx]] if gt_boxes.numel() else props[idx],
                "gt_index": matches[idx],
            })
        return sampled

    def losses(self, features: dict[str, Tensor], proposals: list[Tensor], targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Classification CE, class-specific box regression and per-pixel mask BCE."""
        sampled = self.sample_proposals(proposals, targets)
        boxes = [s["boxes"] for s in sampled]
        classes = torch.cat([s["classes"] for s in sampled])
        logits, deltas = self.box_head(self.pool(features, boxes, self.box_resolution))
        loss_cls = F.cross_entropy(logits, classes, reduction="mean")
        fg = torch.nonzero(classes < self.num_classes).squeeze(1)
        fg_cls = classes[fg]
        fg_deltas = deltas.view(-1, self.num_classes, 4)[fg, fg_cls]
        gt_boxes = torch.cat([s["gt_boxes"] for s in sampled])[fg]
        targets_d = self.box_coder.encode(torch.cat(boxes)[fg], gt_boxes)
        loss_box = box_regression_loss(fg_deltas, targets_d, self.smooth_l1_beta) / max(classes.numel(), 1)
        return {"cls": loss_cls, "box_reg": loss_box, "mask": self.mask_loss(features, sampled, targets)}

    def mask_loss(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> Tensor:
        """BCE of the ground-truth class's 28×28 logits against the gt mask RoIAligned into each fg box."""
        fg_boxes, mask_targets, fg_classes = [], [], []
        m = self.mask_resolution * 2
        for s, tgt in zip(sampled, targets):
            fg = s["classes"] < self.num_classes
            boxes = s["boxes"][fg]
            fg_boxes.append(boxes)
            fg_classes.append(s["classes"][fg])
            if boxes.numel():
                # The gt index is the batch index into the stack of gt masks: no copy per box.
                rois = torch.cat([s["gt_index"][fg].to(boxes.dtype)[:, None], boxes], 1)
                masks = tgt["masks"].to(boxes.dtype)[:, None]
                mask_targets.append(roi_align(masks, rois, m, 1.0, 0, aligned=True)[:, 0] >= 0.5)
        if not any(b.numel() for b in fg_boxes):
            return sum(p.sum() for p in self.mask_head.parameters()) * 0.0
        logits = self.mask_head(self.pool(features, fg_boxes, self.mask_resolution))
        cls = torch.cat(fg_classes)
        logits = logits[torch.arange(cls.numel(), device=cls.device), cls]
        return F.binary_cross_entropy_with_logits(logits, torch.cat(mask_targets).to(logits.dtype), reduction="mean")
