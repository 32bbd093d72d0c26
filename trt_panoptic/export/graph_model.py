"""The export twin of :class:`~trt_panoptic.modeling.PanopticFPN`: one fixed-size image in, fixed-size tensors out.

It reuses the trained submodules (backbone, semantic head, RPN head, box and mask heads) and re-expresses
inference with static shapes so that the ONNX graph has only standard ops:

- anchors are constants for the export H×W;
- the RPN's per-level top-k, decode, clip and per-level NMS become TopK + one ``NonMaxSuppression`` with the
  pyramid level as its "class" axis (a box is a candidate only in its own level); empty boxes get score
  -inf instead of being removed; the kept set becomes a dense mask and the top ``post_nms_topk`` by score
  are the proposals (padding proposals, when fewer survive, are marked invalid);
- multi-level RoIAlign is four ONNX ``RoiAlign`` nodes (one per level, half_pixel, adaptive sampling) over
  all RoIs, each RoI replaced by an empty box far outside the map on the levels it does not belong to (it
  pools to exactly 0), summed;
- Fast R-CNN inference: softmax, class-specific decode, clip, score threshold and per-class NMS as one
  ``NonMaxSuppression`` over the R·K (proposal, class) boxes, then the top D = ``detections_per_image``;
- outputs are padded to D with ``num_detections`` valid rows, sorted by score.

Outputs (batch 1): ``sem_labels`` int32 [1, H, W] (argmax of the ×4-upsampled semantic logits),
``boxes`` float32 [1, D, 4] XYXY input pixels, ``scores`` float32 [1, D], ``classes`` int32 [1, D] (0-based
thing class), ``mask_probs`` float32 [1, D, 28, 28] (sigmoid of the detected class's mask),
``num_detections`` int32 [1]. Rows ≥ ``num_detections`` are zero (mask_probs: undefined).
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.onnx_ops import onnx_nms, onnx_roi_align
from trt_panoptic.modeling import PanopticFPN
from trt_panoptic.modeling.semantic_head import upsample_logits
from trt_panoptic.ops import clip_boxes

INPUT_NAME = "image"
OUTPUT_NAMES = ("sem_labels", "boxes", "scores", "classes", "mask_probs", "num_detections")
#: Score of a box that must never be selected (empty RPN box, padding proposal).
_NEG = -1e4
#: Coordinate of the empty box a RoI gets on the pyramid levels it does not belong to (input pixels).
_FAR = -1e4


class _OnnxSum(torch.autograd.Function):
    """Element-wise sum of tensors as one ONNX ``Sum`` node (the surgery finds the pooler by it)."""

    @staticmethod
    def forward(ctx, *xs: Tensor) -> Tensor:  # noqa: D102
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out

    @staticmethod
    def symbolic(g, *xs):  # noqa: D102
        return g.op("Sum", *xs)


def check_export_size(height: int, width: int, divisibility: int = 32) -> None:
    """Raise a one-line error unless H and W are positive multiples of ``divisibility`` pixels."""
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, int) or v <= 0 or v % divisibility:
            raise TrtPanopticError(
                f"--{name} should be a positive multiple of {divisibility}, got {v} — use e.g. "
                f"{max(divisibility, round(v / divisibility) * divisibility) if isinstance(v, int) else 512}"
            )


class PanopticGraphModel(nn.Module):
    """Static-shape inference graph of a trained :class:`PanopticFPN` for one H×W (batch 1).

    Args:
        model: the trained model (eval mode); its submodules are shared, not copied.
        height, width: input size in pixels, multiples of 32.
        half: compute backbone and heads in FP16; box decoding, NMS scores, RoIAlign sampling, softmax and
            mask sigmoid stay FP32 (box coordinates in FP16 would be off by up to 0.5 px at 1000 px).
    """

    def __init__(self, model: PanopticFPN, height: int, width: int, *, half: bool = False) -> None:
        super().__init__()
        check_export_size(height, width, model.size_divisibility)
        # Normalization stays FP32 (103.53 is 103.5 in FP16); the rest of the model may be an FP16 copy.
        self.register_buffer("pixel_mean", model.pixel_mean.detach().clone().float(), persistent=False)
        self.register_buffer("pixel_std", model.pixel_std.detach().clone().float(), persistent=False)
        self.model = copy.deepcopy(model).half() if half else model
        self.height, self.width = height, width
        self.half = half
        rpn = model.rpn
        strides = rpn.anchor_generator.strides
        self.rpn_levels = len(strides)
        # P6 is a stride-2 max-pool of P5, so its size rounds up (ceil); P2..P5 divide exactly.
        anchors = [rpn.anchor_generator.grid_anchors(i, -(-height // s), -(-width // s)) for i, s in enumerate(strides)]
        for i, a in enumerate(anchors):
            self.register_buffer(f"anchors_{i}", a.float(), persistent=False)
        self.pre_k = [min(rpn.pre_nms_topk[False], a.shape[0]) for a in anchors]
        self.post_k = min(rpn.post_nms_topk[False], sum(self.pre_k))
        heads = model.roi_heads
        self.num_classes = heads.num_classes
        self.detections = min(heads.detections_per_image, self.post_k * self.num_classes)
        roi_strides = list(heads.strides)
        if roi_strides != [4, 8, 16, 32]:
            raise TrtPanopticError(f"export should see RoI heads on P2..P5 (strides 4..32), got strides {roi_strides} — export a standard Panoptic FPN")

    # ---- helpers ---------------------------------------------------------------------------------------
    def _compute(self, x: Tensor) -> Tensor:
        return x.half() if self.half else x

    def pool(self, features: list[Tensor], boxes: Tensor, output_size: int) -> Tensor:
        """Multi-level RoIAlign of Tensor[R, 4] boxes (image 0) over P2..P5 → Tensor[R, C, P, P]."""
        heads = self.model.roi_heads
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        # Eqn. (1) of the FPN paper, as trt_panoptic.ops.assign_boxes_to_levels (levels 2..5 → 0..3).
        level = torch.floor(heads.canonical_level + torch.log2(torch.sqrt(area) / heads.canonical_box_size + 1e-8))
        level = level.clamp(min=2, max=5) - 2
        batch = torch.zeros_like(boxes[:, 0], dtype=torch.int64)
        pooled = []
        for i, (feat, stride) in enumerate(zip(features, heads.strides)):
            # A RoI of another level becomes an empty box far outside the map: it pools to exactly 0 for any
            # sampling ratio (no sample inside [-1, H]), and costs one sample per bin at most.
            rois = torch.where((level == i)[:, None], boxes, torch.full_like(boxes, _FAR))
            out = onnx_roi_align(feat.float(), rois, batch, output_size, 1.0 / stride, heads.sampling_ratio)
            pooled.append(out)
        return self._compute(_OnnxSum.apply(*pooled))

    # ---- forward ---------------------------------------------------------------------------------------
    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        """``image``: uint8 Tensor[1, 3, H, W] in the model's channel order (``cfg.model.input.format``, BGR by default) → the outputs above."""
        m = self.model
        x = (image.float() - self.pixel_mean) / self.pixel_std
        features = m.backbone(self._compute(x))
        sem = upsample_logits(m.semantic_head(features), m.semantic_head.common_stride)
        sem_labels = sem.argmax(dim=1).to(torch.int32)
        proposals, valid = self.proposals(features)
        roi_feats = [features[f] for f in m.roi_heads.in_features]
        boxes, scores, classes, num = self.detect(roi_feats, proposals, valid)
        mask_probs = self.masks(roi_feats, boxes, classes)
        return sem_labels, boxes[None], scores[None], classes.to(torch.int32)[None], mask_probs[None], num

    def proposals(self, features: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """RPN inference → (proposals Tensor[P, 4], valid Tensor[P] bool), sorted by objectness."""
        rpn = self.model.rpn
        logits, deltas = rpn.head([features[f] for f in rpn.in_features])
        boxes_all, scores_all, levels_all = [], [], []
        for lvl, (lg, dl) in enumerate(zip(logits, deltas)):
            assert lg.shape[1] == getattr(self, f"anchors_{lvl}").shape[0], "graph_model: anchors must match the RPN head's grid"
            top, idx = lg[0].float().topk(self.pre_k[lvl], sorted=True)
            anchors = getattr(self, f"anchors_{lvl}")[idx]
            boxes_all.append(rpn.box_coder.decode(dl[0, idx].float(), anchors))
            scores_all.append(top)
            levels_all.append(torch.full((self.pre_k[lvl],), lvl, dtype=torch.int64))
        boxes = clip_boxes(torch.cat(boxes_all), (self.height, self.width))
        scores = torch.cat(scores_all)
        levels = torch.cat(levels_all)
        keep = ((boxes[:, 2] - boxes[:, 0]) > rpn.min_box_size) & ((boxes[:, 3] - boxes[:, 1]) > rpn.min_box_size)
        keep = keep & torch.isfinite(scores) & torch.isfinite(boxes).all(dim=1)
        scores = torch.where(keep, scores, torch.full_like(scores, _NEG))
        # Per-level NMS: the level is the NMS "class"; a box scores _NEG (not a candidate) on other levels.
        onehot = levels[None, :] == torch.arange(self.rpn_levels)[:, None]
        per_level = torch.where(onehot, scores[None, :], torch.full_like(onehot, _NEG, dtype=scores.dtype))
        selected = onnx_nms(boxes[None], per_level[None], self.post_k, rpn.nms_thresh, _NEG / 2)
        kept = torch.zeros_like(scores).scatter(0, selected[:, 2], torch.ones_like(selected[:, 2], dtype=scores.dtype))
        ranked = torch.where(kept > 0, scores, torch.full_like(scores, 2 * _NEG))
        top, idx = ranked.topk(self.post_k, sorted=True)
        return boxes[idx], top > _NEG

    def detect(self, features: list[Tensor], proposals: Tensor, valid: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Fast R-CNN inference → boxes [D, 4], scores [D], classes [D] int64, num_detections [1] int32."""
        heads = self.model.roi_heads
        k = self.num_classes
        logits, deltas = heads.box_head(self.pool(features, proposals, heads.box_resolution))
        scores = F.softmax(logits.float(), dim=-1)[:, :-1]
        scores = torch.where(valid[:, None], scores, torch.full_like(scores, -1.0))
        boxes = clip_boxes(heads.box_coder.decode(deltas.float(), proposals).view(-1, k, 4), (self.height, self.width))
        boxes = boxes.reshape(-1, 4)
        flat = scores.reshape(-1)
        # Per-class NMS over (proposal, class) boxes: the class is the NMS "class" axis.
        cls_of = torch.arange(k).repeat(proposals.shape[0])
        onehot = cls_of[None, :] == torch.arange(k)[:, None]
        per_class = torch.where(onehot, flat[None, :], torch.full_like(onehot, -1.0, dtype=flat.dtype))
        selected = onnx_nms(boxes[None], per_class[None], self.detections, heads.nms_thresh, heads.score_thresh)
        kept = torch.zeros_like(flat).scatter(0, selected[:, 2], torch.ones_like(selected[:, 2], dtype=flat.dtype))
        ranked = torch.where(kept > 0, flat, torch.full_like(flat, -1.0))
        top, idx = ranked.topk(self.detections, sorted=True)
        ok = top > heads.score_thresh
        det_boxes = torch.where(ok[:, None], boxes[idx], torch.zeros_like(boxes[idx]))
        det_scores = torch.where(ok, top, torch.zeros_like(top))
        det_classes = torch.where(ok, idx % k, torch.zeros_like(idx))
        num = ok.sum(dim=0, keepdim=True).to(torch.int32)
        return det_boxes, det_scores, det_classes, num

    def masks(self, features: list[Tensor], boxes: Tensor, classes: Tensor) -> Tensor:
        """Mask head on the detections → Tensor[D, 28, 28] probabilities of each detection's class."""
        heads = self.model.roi_heads
        logits = heads.mask_head(self.pool(features, boxes, heads.mask_resolution)).float()
        m = logits.shape[-1]
        index = classes.view(-1, 1, 1, 1).expand(-1, 1, m, m)
        return torch.gather(logits, 1, index)[:, 0].sigmoid()
