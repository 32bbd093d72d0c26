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

    Only the wiring lives here: the losses themselves are :func:`fastrcnn_loss` and :func:`maskrcnn_loss`.

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
        """Sample proposals, run the box and mask heads on them and return ``cls``, ``box_reg`` and ``mask`` losses."""
        sampled = self.sample_proposals(proposals, targets)
        boxes = [s["boxes"] for s in sampled]
        labels = torch.cat([s["classes"] for s in sampled])
        class_logits, box_regression = self.box_head(self.pool(features, boxes, self.box_resolution))
        fg = torch.nonzero(labels < self.num_classes).squeeze(1)
        gt_boxes = torch.cat([s["gt_boxes"] for s in sampled])[fg]
        regression_targets = self.box_coder.encode(torch.cat(boxes)[fg], gt_boxes)
        loss_cls, loss_box = fastrcnn_loss(class_logits, box_regression, labels, regression_targets, smooth_l1_beta=self.smooth_l1_beta)
        return {"cls": loss_cls, "box_reg": loss_box, "mask": self.mask_losses(features, sampled, targets)}

    def mask_losses(self, features: dict[str, Tensor], sampled: list[dict[str, Tensor]], targets: list[dict[str, Tensor]]) -> Tensor:
        """Run the mask head on the foreground samples and score it with :func:`maskrcnn_loss`."""
        fg_boxes, fg_classes, fg_gt_index = [], [], []
        for s in sampled:
            fg = s["classes"] < self.num_classes
            fg_boxes.append(s["boxes"][fg])
            fg_classes.append(s["classes"][fg])
            fg_gt_index.append(s["gt_index"][fg])
        if not any(b.numel() for b in fg_boxes):
            # No foreground anywhere in the batch: a zero that still reaches every mask-head parameter.
            return sum(p.sum() for p in self.mask_head.parameters()) * 0.0
        mask_logits = self.mask_head(self.pool(features, fg_boxes, self.mask_resolution))
        return maskrcnn_loss(mask_logits, fg_boxes, [t["masks"] for t in targets], fg_classes, fg_gt_index)


def fastrcnn_loss(
    class_logits: Tensor, box_regression: Tensor, labels: Tensor, regression_targets: Tensor, *, smooth_l1_beta: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Fast R-CNN loss over the sampled proposals of the whole batch: (classification, box regression).

    Args:
        class_logits: Tensor[R, K+1], the box head's class logits, background **last** (index K).
        box_regression: Tensor[R, K*4], the box head's class-specific deltas.
        labels: Tensor[R] int64, each proposal's class in 0..K-1, or K for background.
        regression_targets: Tensor[F, 4], the encoded deltas from each foreground proposal (``labels < K``) to its
            matched ground-truth box, in the order the foreground proposals appear in ``labels``.
        smooth_l1_beta: smooth-L1 beta of the box loss; below 1e-5 it is plain L1.

    Returns:
        The mean cross-entropy over all R proposals, and the summed smooth-L1 between the ground-truth class's
        deltas and ``regression_targets`` over the foreground proposals, divided by R (by 1 when R is 0).
    """
    num_classes = class_logits.shape[1] - 1
    loss_cls = F.cross_entropy(class_logits, labels, reduction="mean")
    fg = torch.nonzero(labels < num_classes).squeeze(1)
    fg_deltas = box_regression.view(-1, num_classes, 4)[fg, labels[fg]]
    loss_box = box_regression_loss(fg_deltas, regression_targets, smooth_l1_beta) / max(labels.numel(), 1)
    return loss_cls, loss_box


def maskrcnn_loss(
    mask_logits: Tensor, proposals: list[Tensor], gt_masks: list[Tensor], gt_labels: list[Tensor], mask_matched_idxs: list[Tensor]
) -> Tensor:
    """Mask R-CNN mask loss: per-pixel BCE of the ground-truth class's mask logits against the gt mask in each box.

    Args:
        mask_logits: Tensor[F, K, M, M], the mask head's class-specific logits for the foreground proposals of all
            images, concatenated in image order.
        proposals: per image, Tensor[F_i, 4] (x1, y1, x2, y2) foreground proposal boxes, in image pixels.
        gt_masks: per image, Tensor[G_i, H, W] ground-truth instance masks (binary, any dtype).
        gt_labels: per image, Tensor[F_i] int64, the class (0..K-1) of the ground truth each proposal matched.
        mask_matched_idxs: per image, Tensor[F_i] int64, the index into ``gt_masks[i]`` each proposal matched.

    Returns:
        The mean BCE-with-logits over all F×M×M pixels, where the target is the matched gt mask RoIAligned into the
        proposal box at M×M and thresholded at 0.5.
    """
    m = mask_logits.shape[-1]
    mask_targets = []
    for boxes, masks, matched in zip(proposals, gt_masks, mask_matched_idxs):
        if boxes.numel():
            # The gt index is the batch index into the stack of gt masks: no copy per box.
            rois = torch.cat([matched.to(boxes.dtype)[:, None], boxes], 1)
            mask_targets.append(roi_align(masks.to(boxes.dtype)[:, None], rois, m, 1.0, 0, aligned=True)[:, 0] >= 0.5)
    labels = torch.cat(gt_labels)
    logits = mask_logits[torch.arange(labels.numel(), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(logits, torch.cat(mask_targets).to(logits.dtype), reduction="mean")
