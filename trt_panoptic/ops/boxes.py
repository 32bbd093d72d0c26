"""Box arithmetic: IoU, clipping, the R-CNN box coder and non-maximum suppression, in plain PyTorch."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# Largest log-scale a box may grow by in one decoding step (detectron2 / torchvision: log(1000 / 16)).
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


def box_area(boxes: Tensor) -> Tensor:
    """Tensor[N, 4] XYXY → Tensor[N] areas."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU of Tensor[N, 4] and Tensor[M, 4] XYXY → Tensor[N, M] (0 where the union is empty)."""
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[None, :, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(inter))


def clip_boxes(boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Clip Tensor[N, 4] XYXY to an (H, W) image: x to [0, W], y to [0, H]."""
    h, w = image_size
    x1 = boxes[..., 0].clamp(min=0, max=w)
    y1 = boxes[..., 1].clamp(min=0, max=h)
    x2 = boxes[..., 2].clamp(min=0, max=w)
    y2 = boxes[..., 3].clamp(min=0, max=h)
    return torch.stack([x1, y1, x2, y2], dim=-1)


def nonempty(boxes: Tensor, threshold: float = 0.0) -> Tensor:
    """Tensor[N] bool: width and height both greater than ``threshold``."""
    return ((boxes[:, 2] - boxes[:, 0]) > threshold) & ((boxes[:, 3] - boxes[:, 1]) > threshold)


@dataclass(frozen=True)
class BoxCoder:
    """R-CNN box parametrization (Girshick et al.): deltas (dx, dy, dw, dh) scaled by ``weights``.

    ``scale_clamp`` caps dw/dh so a decoded box never grows by more than 1000/16 in one step.
    """

    weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    scale_clamp: float = DEFAULT_SCALE_CLAMP

    def encode(self, src: Tensor, target: Tensor) -> Tensor:
        """Deltas that turn Tensor[N, 4] ``src`` boxes into ``target`` boxes → Tensor[N, 4]."""
        src_w = src[:, 2] - src[:, 0]
        src_h = src[:, 3] - src[:, 1]
        src_x = src[:, 0] + 0.5 * src_w
        src_y = src[:, 1] + 0.5 * src_h
        tgt_w = target[:, 2] - target[:, 0]
        tgt_h = target[:, 3] - target[:, 1]
        tgt_x = target[:, 0] + 0.5 * tgt_w
        tgt_y = target[:, 1] + 0.5 * tgt_h
        wx, wy, ww, wh = self.weights
        return torch.stack(
            [
                wx * (tgt_x - src_x) / src_w,
                wy * (tgt_y - src_y) / src_h,
                ww * torch.log(tgt_w / src_w),
                wh * torch.log(tgt_h / src_h),
            ],
            dim=1,
        )

    def decode(self, deltas: Tensor, boxes: Tensor) -> Tensor:
        """Apply Tensor[N, K*4] ``deltas`` to Tensor[N, 4] ``boxes`` → Tensor[N, K*4] XYXY."""
        deltas = deltas.float()
        boxes = boxes.to(deltas.dtype)
        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights
        wx, wy, ww, wh = self.weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = (deltas[:, 2::4] / ww).clamp(max=self.scale_clamp)
        dh = (deltas[:, 3::4] / wh).clamp(max=self.scale_clamp)
        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]
        x1 = pred_ctr_x - 0.5 * pred_w
        y1 = pred_ctr_y - 0.5 * pred_h
        x2 = pred_ctr_x + 0.5 * pred_w
        y2 = pred_ctr_y + 0.5 * pred_h
        return torch.stack((x1, y1, x2, y2), dim=-1).reshape(deltas.shape)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, torchvision's rule (suppress when IoU > threshold).

    Args:
        boxes: Tensor[N, 4] XYXY.
        scores: Tensor[N].
        iou_threshold: suppression threshold.

    Returns:
        Tensor[K] int64 indices of the kept boxes, by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.zeros((0,), dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    x1, y1, x2, y2 = b.unbind(1)
    areas = (x2 - x1) * (y2 - y1)
    # IoU computed exactly as torchvision's kernel: inter / (area_i + area_j - inter), float32.
    xx1 = torch.max(x1[:, None], x1[None, :])
    yy1 = torch.max(y1[:, None], y1[None, :])
    xx2 = torch.min(x2[:, None], x2[None, :])
    yy2 = torch.min(y2[:, None], y2[None, :])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    over = (inter / (areas[:, None] + areas[None, :] - inter) > iou_threshold).cpu().numpy()
    n = over.shape[0]
    removed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if removed[i]:
            continue
        keep.append(i)
        removed[i + 1 :] |= over[i, i + 1 :]
    return order[torch.as_tensor(keep, dtype=torch.long, device=boxes.device)]


def nms_keep_mask(
    boxes: Tensor,
    scores: Tensor,
    iou_threshold: float,
    *,
    score_threshold: float | None = None,
    max_per_group: int | None = None,
    rounds: int = 32,
) -> tuple[Tensor, Tensor]:
    """Greedy NMS per group as fixed-shape tensor work: no host sync, no data-dependent shape.

    The same decisions as :func:`nms` (scores by decreasing value, ties in input order; suppress when IoU >
    ``iou_threshold``, IoU computed as torchvision does) — ONNX ``NonMaxSuppression`` when ``score_threshold``
    and ``max_per_group`` are given. Greedy NMS is a fixed point: box j is kept iff no kept box before it
    overlaps it. Starting from every candidate kept, each round re-decides all boxes from the previous round's
    decisions; after k rounds the first k links of every chain of suppressions are right, so ``rounds`` rounds
    are exact whenever no chain is longer (the bundled model's boxes needed at most 12). Whether they were is
    returned, computed on the device: a caller that must be exact checks it once per frame, not per box.

    Args:
        boxes: Tensor[G, N, 4] XYXY, one row of boxes per group (pyramid level, class).
        scores: Tensor[G, N]; a box is a candidate when its score is above ``score_threshold`` (when given) and
            finite.
        max_per_group: keep at most this many per group (the first by score).
        rounds: fixed-point rounds (static: the work is G·N²·rounds whatever the boxes).

    Returns:
        (keep Tensor[G, N] bool in input order, converged Tensor[] bool).
    """
    g, n = scores.shape
    if n == 0:
        return torch.zeros_like(scores, dtype=torch.bool), torch.ones((), dtype=torch.bool, device=scores.device)
    scores = scores.float()
    candidate = torch.isfinite(scores)
    if score_threshold is not None:
        candidate = candidate & (scores > score_threshold)
    ranked = torch.where(candidate, scores, torch.full_like(scores, float("-inf")))
    order = torch.sort(ranked, dim=1, descending=True, stable=True).indices
    cand = torch.gather(candidate, 1, order)
    b = torch.gather(boxes.float(), 1, order[..., None].expand(g, n, 4))
    x1, y1, x2, y2 = b.unbind(-1)
    areas = (x2 - x1) * (y2 - y1)
    inter = ((torch.min(x2[:, :, None], x2[:, None, :]) - torch.max(x1[:, :, None], x1[:, None, :])).clamp(min=0)
             * (torch.min(y2[:, :, None], y2[:, None, :]) - torch.max(y1[:, :, None], y1[:, None, :])).clamp(min=0))
    later = torch.ones((n, n), dtype=torch.bool, device=scores.device).triu(1)
    # over[g, i, j]: box i (better ranked) suppresses box j if i is kept
    over = (inter / (areas[:, :, None] + areas[:, None, :] - inter) > iou_threshold) & later & cand[:, :, None]
    overlaps = over.to(torch.float32)  # each round is one batched mat-vec: kept boxes · overlaps
    keep = cand
    for _ in range(rounds):
        keep = cand & ((keep.to(torch.float32)[:, None, :] @ overlaps)[:, 0] == 0)
    converged = ((cand & ((keep.to(torch.float32)[:, None, :] @ overlaps)[:, 0] == 0)) == keep).all()
    if max_per_group is not None:
        keep = keep & (torch.cumsum(keep.to(torch.int32), dim=1) <= max_per_group)
    return torch.zeros_like(keep).scatter(1, order, keep), converged


#: Every ``implementation`` of :func:`batched_nms`.
NMS_IMPLEMENTATIONS = ("auto", "torch", "host")


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float,
                implementation: str = "auto") -> Tensor:
    """NMS independently per group (class or pyramid level); indices by decreasing score (ties in input order).

    ``implementation``: "torch" (:func:`nms` per group: a vectorized IoU matrix, then the greedy pass),
    "host" (the host library's greedy loop, O(n · kept) per group, as torchvision's CPU kernel; CPU tensors)
    or "auto" (host for CPU tensors when its library loads). Both keep the same boxes.
    """
    if implementation not in NMS_IMPLEMENTATIONS:
        raise ValueError(f"batched_nms: implementation should be one of {', '.join(NMS_IMPLEMENTATIONS)}, got {implementation!r}")
    if boxes.numel() == 0:
        return torch.zeros((0,), dtype=torch.long, device=boxes.device)
    if implementation == "host" or (implementation == "auto" and boxes.device.type == "cpu" and _host_nms_available()):
        return _batched_nms_host(boxes, scores, groups, iou_threshold)
    keep = []
    for g in torch.unique(groups):
        idx = torch.nonzero(groups == g).squeeze(1)
        keep.append(idx[nms(boxes[idx], scores[idx], iou_threshold)])
    keep_all = torch.cat(keep)
    return keep_all[torch.sort(scores[keep_all], descending=True, stable=True).indices]


def _host_nms_available() -> bool:
    from trt_panoptic.plugins import host

    return host.library_available()


def _batched_nms_host(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """:func:`batched_nms` by the host library: boxes ranked by group, then by score, in one call."""
    from trt_panoptic.plugins import host

    order = torch.sort(scores, descending=True, stable=True).indices
    order = order[torch.sort(groups[order], stable=True).indices]
    counts = torch.unique_consecutive(groups[order], return_counts=True)[1]
    starts = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])
    keep = host.nms(boxes[order].detach().float().cpu().numpy(), starts.cpu().numpy(), iou_threshold)
    keep_all = order[torch.from_numpy(keep).to(order.device)]
    return keep_all[torch.sort(scores[keep_all], descending=True, stable=True).indices]
