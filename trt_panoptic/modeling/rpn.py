"""Region Proposal Network (Ren et al. 2015) over the FPN levels: anchors, head, proposals and losses."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.modeling.sampling import match_by_iou, subsample_labels
from trt_panoptic.ops import BoxCoder, batched_nms, box_iou, clip_boxes, nonempty


class AnchorGenerator(nn.Module):
    """One anchor per (location, size, ratio); a single size per pyramid level.

    Anchors of a level are ordered location-major (row, column) then by ratio, matching the head's
    output layout ``[N, H, W, A]``. Anchor ``[-w/2, -h/2, w/2, h/2]`` with ``w·h = size²`` and ``h/w = ratio``,
    shifted by the stride-spaced grid (offset 0: detectron2's convention).
    """

    def __init__(self, *, sizes: list[float], aspect_ratios: list[float], strides: list[int]) -> None:
        super().__init__()
        assert len(sizes) == len(strides), "rpn: one anchor size per pyramid level"
        self.strides = list(strides)
        self.num_anchors = len(aspect_ratios)
        for i, size in enumerate(sizes):
            cells = []
            for ratio in aspect_ratios:
                w = math.sqrt(size * size / ratio)
                h = ratio * w
                cells.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
            self.register_buffer(f"cell_anchors_{i}", torch.tensor(cells), persistent=False)

    def grid_anchors(self, level: int, height: int, width: int) -> Tensor:
        """Tensor[H*W*A, 4] anchors of one level, XYXY input pixels."""
        stride = self.strides[level]
        cell = getattr(self, f"cell_anchors_{level}")
        shift_x = torch.arange(0, width * stride, step=stride, dtype=torch.float32, device=cell.device)
        shift_y = torch.arange(0, height * stride, step=stride, dtype=torch.float32, device=cell.device)
        sy, sx = torch.meshgrid(shift_y, shift_x, indexing="ij")
        sx, sy = sx.reshape(-1), sy.reshape(-1)
        shifts = torch.stack((sx, sy, sx, sy), dim=1)
        return (shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        return [self.grid_anchors(i, f.shape[-2], f.shape[-1]) for i, f in enumerate(features)]


class RPNHead(nn.Module):
    """Shared 3×3 conv + ReLU, then 1×1 convs for A objectness logits and A×4 box deltas per location."""

    def __init__(self, *, in_channels: int, num_anchors: int, box_dim: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, kernel_size=3, padding=1)
        self.objectness_logits = nn.Conv2d(in_channels, num_anchors, kernel_size=1)
        self.anchor_deltas = nn.Conv2d(in_channels, num_anchors * box_dim, kernel_size=1)
        for layer in (self.conv, self.objectness_logits, self.anchor_deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.constant_(layer.bias, 0)

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Per level: logits Tensor[N, H*W*A] and deltas Tensor[N, H*W*A, 4] in anchor order."""
        logits, deltas = [], []
        for x in features:
            t = F.relu(self.conv(x))
            n, _, h, w = t.shape
            logits.append(self.objectness_logits(t).permute(0, 2, 3, 1).flatten(1))
            d = self.anchor_deltas(t)
            deltas.append(d.view(n, -1, 4, h, w).permute(0, 3, 4, 1, 2).flatten(1, -2))
        return logits, deltas


class RPN(nn.Module):
    """Proposals from the pyramid: per-level top-k by objectness, decode, clip, per-level NMS, top-k overall."""

    def __init__(
        self, *, head: RPNHead, anchor_generator: AnchorGenerator, in_features: list[str], box_coder: BoxCoder,
        pre_nms_topk: tuple[int, int] = (2000, 1000), post_nms_topk: tuple[int, int] = (1000, 1000),
        nms_thresh: float = 0.7, min_box_size: float = 0.0, iou_thresholds: tuple[float, float] = (0.3, 0.7),
        batch_size_per_image: int = 256, positive_fraction: float = 0.5, smooth_l1_beta: float = 0.0,
        loss_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.head = head
        self.anchor_generator = anchor_generator
        self.in_features = in_features
        self.box_coder = box_coder
        self.pre_nms_topk = {True: pre_nms_topk[0], False: pre_nms_topk[1]}
        self.post_nms_topk = {True: post_nms_topk[0], False: post_nms_topk[1]}
        self.nms_thresh = nms_thresh
        self.min_box_size = min_box_size
        self.iou_thresholds = list(iou_thresholds)
        self.batch_size_per_image = batch_size_per_image
        self.positive_fraction = positive_fraction
        self.smooth_l1_beta = smooth_l1_beta
        self.loss_weight = loss_weight

    def forward(
        self, features: dict[str, Tensor], image_sizes: list[tuple[int, int]], gt_boxes: list[Tensor] | None = None
    ) -> tuple[list[tuple[Tensor, Tensor]], dict[str, Tensor]]:
        """Returns per image (boxes Tensor[R, 4], objectness logits Tensor[R]) sorted by logit, and losses."""
        feats = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(feats)
        logits, deltas = self.head(feats)
        losses = {}
        if self.training:
            assert gt_boxes is not None, "rpn: training needs ground-truth boxes"
            losses = self.losses(anchors, logits, deltas, gt_boxes)
        proposals = self.find_top_proposals(anchors, logits, deltas, image_sizes)
        return proposals, losses

    def find_top_proposals(
        self, anchors: list[Tensor], logits: list[Tensor], deltas: list[Tensor], image_sizes: list[tuple[int, int]]
    ) -> list[tuple[Tensor, Tensor]]:
        pre_k = self.pre_nms_topk[self.training]
        post_k = self.post_nms_topk[self.training]
        results = []
        with torch.no_grad():
            for i, size in enumerate(image_sizes):
                boxes_all, scores_all, levels_all = [], [], []
                for lvl, (a, lg, dl) in enumerate(zip(anchors, logits, deltas)):
                    k = min(pre_k, lg.shape[1])
                    top_logits, top_idx = lg[i].detach().topk(k, sorted=True)
                    boxes_all.append(self.box_coder.decode(dl[i, top_idx].detach(), a[top_idx]))
                    scores_all.append(top_logits)
                    levels_all.append(torch.full((k,), lvl, dtype=torch.int64, device=lg.device))
                boxes = torch.cat(boxes_all)
                scores = torch.cat(scores_all)
                levels = torch.cat(levels_all)
                valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
                if not valid.all():
                    boxes, scores, levels = boxes[valid], scores[valid], levels[valid]
                boxes = clip_boxes(boxes, size)
                keep = nonempty(boxes, self.min_box_size)
                boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
                keep = batched_nms(boxes, scores, levels, self.nms_thresh)[:post_k]
                results.append((boxes[keep], scores[keep]))
        return results

    def losses(
        self, anchors: list[Tensor], logits: list[Tensor], deltas: list[Tensor], gt_boxes: list[Tensor]
    ) -> dict[str, Tensor]:
        """Objectness BCE over sampled anchors and L1/smooth-L1 box loss over positives, both / (N × batch)."""
        all_anchors = torch.cat(anchors)
        all_logits = torch.cat(logits, dim=1)
        all_deltas = torch.cat(deltas, dim=1)
        labels, targets = [], []
        for gt in gt_boxes:
            quality = box_iou(gt, all_anchors)
            matches, match_labels = match_by_iou(quality, self.iou_thresholds, [0, -1, 1], allow_low_quality_matches=True)
            lab = match_labels.to(torch.int64)
            pos, neg = subsample_labels(lab, self.batch_size_per_image, self.positive_fraction, 0)
            lab.fill_(-1)
            lab[pos] = 1
            lab[neg] = 0
            labels.append(lab)
            matched = gt[matches] if gt.numel() else torch.zeros_like(all_anchors)
            targets.append(self.box_coder.encode(all_anchors, matched))
        labels_t = torch.stack(labels)
        targets_t = torch.stack(targets)
        pos_mask = labels_t == 1
        valid = labels_t >= 0
        normalizer = self.batch_size_per_image * len(gt_boxes)
        loss_cls = F.binary_cross_entropy_with_logits(all_logits[valid], labels_t[valid].float(), reduction="sum")
        loss_loc = box_regression_loss(all_deltas[pos_mask], targets_t[pos_mask], self.smooth_l1_beta)
        return {"rpn_cls": loss_cls / normalizer * self.loss_weight, "rpn_loc": loss_loc / normalizer * self.loss_weight}


def box_regression_loss(pred: Tensor, target: Tensor, beta: float) -> Tensor:
    """Summed smooth-L1 (L1 when beta is 0) between predicted and target deltas."""
    if beta < 1e-5:
        return (pred - target).abs().sum()
    return F.smooth_l1_loss(pred, target, beta=beta, reduction="sum")
