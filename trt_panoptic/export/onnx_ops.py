"""Export-only twins of two detection ops, each an autograd Function whose ``symbolic`` emits the ONNX op.

The TorchScript exporter calls ``symbolic`` instead of tracing ``forward``, so the graph gets one standard
``RoiAlign`` / ``NonMaxSuppression`` node; ``forward`` computes exactly what that ONNX op computes (our
pure-PyTorch references), so the eager graph model and the exported graph agree and can be compared.
"""
from __future__ import annotations

import torch
from torch import Tensor

from trt_panoptic.ops import nms, roi_align

#: ONNX RoiAlign attributes that reproduce ``torchvision.ops.roi_align(aligned=True)``: half_pixel shifts
#: the box by -0.5 feature pixel (the "aligned" correction) and does not clamp the RoI to 1 pixel.
ROI_ALIGN_MODE = "half_pixel"


class OnnxRoiAlign(torch.autograd.Function):
    """ONNX ``RoiAlign`` (opset 16+, half_pixel, avg): X Tensor[N, C, H, W], rois Tensor[R, 4] XYXY input
    pixels, batch_indices Tensor[R] int64 → Tensor[R, C, P, P]."""

    @staticmethod
    def forward(ctx, x: Tensor, rois: Tensor, batch_indices: Tensor, output_size: int, spatial_scale: float,
                sampling_ratio: int) -> Tensor:  # noqa: D102
        boxes = torch.cat([batch_indices.to(rois.dtype)[:, None], rois], dim=1)
        return roi_align(x, boxes, output_size, spatial_scale, sampling_ratio, aligned=True)

    @staticmethod
    def symbolic(g, x, rois, batch_indices, output_size, spatial_scale, sampling_ratio):  # noqa: D102
        return g.op(
            "RoiAlign", x, rois, batch_indices, coordinate_transformation_mode_s=ROI_ALIGN_MODE, mode_s="avg",
            output_height_i=output_size, output_width_i=output_size, sampling_ratio_i=sampling_ratio,
            spatial_scale_f=spatial_scale,
        )


class OnnxNonMaxSuppression(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (corner boxes): boxes Tensor[B, N, 4], scores Tensor[B, C, N] → selected
    Tensor[K, 3] int64 (batch, class, box), per (batch, class) by decreasing score; a box is a candidate only
    when its score is strictly above ``score_threshold`` and is suppressed when IoU > ``iou_threshold``."""

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_output_boxes_per_class: int, iou_threshold: float,
                score_threshold: float) -> Tensor:  # noqa: D102
        selected = []
        for b in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                cand = torch.nonzero(scores[b, c] > score_threshold).squeeze(1)
                keep = cand[nms(boxes[b, cand].float(), scores[b, c, cand].float(), iou_threshold)][:max_output_boxes_per_class]
                rows = torch.stack([torch.full_like(keep, b), torch.full_like(keep, c), keep], dim=1)
                selected.append(rows)
        return torch.cat(selected) if selected else torch.zeros((0, 3), dtype=torch.int64, device=boxes.device)

    @staticmethod
    def symbolic(g, boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold):  # noqa: D102
        max_out = g.op("Constant", value_t=torch.tensor([max_output_boxes_per_class], dtype=torch.int64))
        iou = g.op("Constant", value_t=torch.tensor([iou_threshold], dtype=torch.float32))
        thr = g.op("Constant", value_t=torch.tensor([score_threshold], dtype=torch.float32))
        return g.op("NonMaxSuppression", boxes, scores, max_out, iou, thr, center_point_box_i=0)


def onnx_roi_align(x: Tensor, rois: Tensor, batch_indices: Tensor, output_size: int, spatial_scale: float,
                   sampling_ratio: int = 0) -> Tensor:
    """See :class:`OnnxRoiAlign`."""
    return OnnxRoiAlign.apply(x, rois, batch_indices, output_size, spatial_scale, sampling_ratio)


def onnx_nms(boxes: Tensor, scores: Tensor, max_output_boxes_per_class: int, iou_threshold: float,
             score_threshold: float) -> Tensor:
    """See :class:`OnnxNonMaxSuppression`."""
    return OnnxNonMaxSuppression.apply(boxes, scores, max_output_boxes_per_class, iou_threshold, score_threshold)
