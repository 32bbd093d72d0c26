"""The export twin of :class:`~trt_panoptic.modeling.PanopticFPN`: a fixed batch of B fixed-size images in,
fixed-size tensors out.

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

Outputs: ``sem_labels`` int32 [B, H, W] (argmax of the ×4-upsampled semantic logits), ``boxes`` float32
[B, D, 4] XYXY input pixels, ``scores`` float32 [B, D], ``classes`` int32 [B, D] (0-based thing class),
``mask_probs`` float32 [B, D, 28, 28] (sigmoid of the detected class's mask), ``num_detections`` int32 [B].
Rows ≥ an image's ``num_detections`` are zero (mask_probs: undefined). B is 1 unless exported with a batch.

Inputs: ``image`` uint8 [B, 3, H, W] and ``valid_hw`` int32 [B, 2], the height and width of each frame inside
its padded input (top-left; the whole input when it fills it).

Every image of a batch is its own problem: the graph computes for it exactly what the batch-1 graph computes
(its own frame, RPN top-k, NMS per level and per class within the image, top D, panoptic tail). The NMS nodes
carry the images on their batch axis and the RoIs their image's index, so no step mixes images.

The graph is exact under padding: it computes what :class:`~trt_panoptic.modeling.PanopticFPN` (like
detectron2) computes for the frame alone:

- the padding is exactly 0 after normalization (the normalized input is zeroed outside ``valid_hw`` in the
  graph, whatever the pad value of the uint8 input), as the eager model zero-pads after normalizing;
- RPN proposals and detection boxes are clipped to the frame, not the padded input, so proposals that lie
  in the padding become empty and are dropped, as the eager model's clip to the image size drops them.

The anchors cover the whole H×W grid, as the eager model's do over its padded batch: for a frame whose
size rounded up to 32 is H×W the outputs equal the eager model's on the frame (up to float rounding);
a frame letterboxed into a larger input gets what the eager model computes on it zero-padded to H×W
(``PanopticFPN(..., pad_to=(H, W))``, what the torch predictor runs).

With ``panoptic_tail`` (the export's default) the graph ends in the panoptic map: one ``PanopticFusion``
node (``plugins/panoptic_fusion``; the portable flavour expands it into standard ops,
:mod:`trt_panoptic.export.tail_ops`) pastes and fuses inside that region and adds the outputs
``panoptic`` int32 [B, H, W] (0 = void), ``segments`` float32 [B, D + S, 10] (the table of
:data:`trt_panoptic.postprocess.SEGMENT_COLUMNS`, S = stuff classes; rows past ``num_segments`` zero) and
``num_segments`` int32 [B]; ``mask_probs`` is then an output only with ``raw_outputs``. The node keeps every
stuff segment (``stuff_area_limit`` 0): the host drops those below the limit at the frame's resolution.
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
from trt_panoptic.ops.boxes import nms_keep_mask
from trt_panoptic.ops.poolers import multilevel_roi_align_fixed
from trt_panoptic.postprocess.panoptic_fixed import DEFAULT_ROUNDS, panoptic_table_fixed

INPUT_NAME = "image"
VALID_HW_NAME = "valid_hw"
OUTPUT_NAMES = ("sem_labels", "boxes", "scores", "classes", "mask_probs", "num_detections")
TAIL_OUTPUT_NAMES = ("panoptic", "segments", "num_segments")
#: Score of a box that must never be selected (empty RPN box, padding proposal).
_NEG = -1e4
#: Coordinate of the empty box a RoI gets on the pyramid levels it does not belong to (input pixels).
_FAR = -1e4


class Float32Norm(nn.Module):
    """A normalization layer kept in FP32 inside an FP16 model: FP16 in, FP32 statistics and affine, FP16 out.

    Under strong typing a layer computes in its input's type, so a GroupNorm (exported as
    InstanceNormalization) fed FP16 would take its mean and variance in FP16; the casts around it make the
    exported graph say FP32 for the normalization itself, on every TensorRT version.
    """

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm.float()

    def forward(self, x: Tensor) -> Tensor:  # noqa: D102
        return self.norm(x.float()).to(x.dtype)


def _keep_norms_float32(model: nn.Module) -> nn.Module:
    """Wrap every GroupNorm of ``model`` (in place) in :class:`Float32Norm`; returns ``model``."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.GroupNorm):
            setattr(model, name, Float32Norm(child))
        else:
            _keep_norms_float32(child)
    return model


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


class _PanopticFusion(torch.autograd.Function):
    """The panoptic tail as one ``PanopticFusion`` plugin node; traced, it computes what the plugin computes
    (the plugin's host build where it loads, else the tensor version: the same results)."""

    @staticmethod
    def forward(ctx, labels, masks, boxes, scores, classes, num, valid_hw, score_thresh: float,  # noqa: D102
                overlap_thresh: float, stuff_area_limit: int, mask_threshold: float, num_stuff: int,
                static: tuple[int, int, int]):
        from trt_panoptic.postprocess.panoptic_tail import panoptic_table

        b, h, w = labels.shape
        d = boxes.shape[1]
        panoptic = labels.new_zeros((b, h, w))
        segments = boxes.new_zeros((b, d + num_stuff, 10))
        counts = torch.zeros(b, dtype=torch.int32, device=labels.device)
        for i in range(b):  # images are independent: the plugin fuses each in its own block
            vh, vw = int(valid_hw[i, 0]), int(valid_hw[i, 1])
            n = int(num[i])
            pan, table = panoptic_table(
                labels[i, :vh, :vw], masks[i, :n].float(), boxes[i, :n], scores[i, :n], classes[i, :n],
                instance_score_thresh=score_thresh, overlap_thresh=overlap_thresh, stuff_area_limit=stuff_area_limit,
                mask_threshold=mask_threshold)
            panoptic[i, :vh, :vw] = pan
            segments[i, : table.shape[0]] = table
            counts[i] = table.shape[0]
        return panoptic, segments, counts

    @staticmethod
    def symbolic(g, labels, masks, boxes, scores, classes, num, valid_hw, score_thresh, overlap_thresh,  # noqa: D102
                 stuff_area_limit, mask_threshold, num_stuff, static):
        from trt_panoptic.export.contract import PLUGIN_NAMESPACE, PLUGIN_VERSION

        panoptic, segments, count = g.op(
            "trt_panoptic::PanopticFusion", labels, masks, boxes, scores, classes, num, valid_hw,
            plugin_version_s=PLUGIN_VERSION, plugin_namespace_s=PLUGIN_NAMESPACE,
            instance_score_thresh_f=score_thresh, overlap_thresh_f=overlap_thresh, stuff_area_limit_i=stuff_area_limit,
            mask_threshold_f=mask_threshold, num_stuff_i=num_stuff, outputs=3)
        # the plugin's output shapes (getOutputShapes), so the graph's outputs carry them; the static sizes
        # (D, H, W) come as an argument because the exporter's shape inference loses them when the batch is
        # dynamic (batch None then)
        batch = labels.type().varyingSizes()[0]
        detections, height, width = static
        panoptic.setType(labels.type().with_sizes([batch, height, width]))
        segments.setType(boxes.type().with_sizes([batch, detections + num_stuff, 10]))
        count.setType(num.type())
        return panoptic, segments, count


def check_export_size(height: int, width: int, divisibility: int = 32) -> None:
    """Raise a one-line error unless H and W are positive multiples of ``divisibility`` pixels."""
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, int) or v <= 0 or v % divisibility:
            raise TrtPanopticError(
                f"--{name} should be a positive multiple of {divisibility}, got {v} — use e.g. "
                f"{max(divisibility, round(v / divisibility) * divisibility) if isinstance(v, int) else 512}"
            )


def check_batch(batch: int) -> None:
    """Raise a one-line error unless ``batch`` (images per forward) is a positive integer."""
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise TrtPanopticError(f"batch should be a positive integer, got {batch!r} — use e.g. --batch 4")


def frame_limits(valid_hw: Tensor) -> Tensor:
    """int32 [B, 2] (height, width) of each image's frame → float32 [B, 1, 4] (w, h, w, h): the largest XYXY
    coordinates of a box inside it, broadcast over that image's boxes [B, N, 4]."""
    return valid_hw.flip(1).repeat(1, 2).float()[:, None, :]


def clip_to_frame(boxes: Tensor, limit: Tensor) -> Tensor:
    """Clip Tensor[..., 4] XYXY boxes to the frame: x to [0, w], y to [0, h] (:func:`trt_panoptic.ops.clip_boxes`
    with the size as a tensor; Max and Min nodes, which TensorRT parses with a non-constant bound)."""
    return torch.minimum(boxes.clamp(min=0), limit)


class PanopticGraphModel(nn.Module):
    """Static-shape inference graph of a trained :class:`PanopticFPN` for one H×W and a fixed batch of B images.

    Args:
        model: the trained model (eval mode); its submodules are shared, not copied.
        height, width: input size in pixels, multiples of 32.
        half: compute backbone and heads in FP16; box decoding, NMS scores, RoIAlign sampling, softmax, mask
            sigmoid and GroupNorm stay FP32 (box coordinates in FP16 would be off by up to 0.5 px at 1000 px;
            FP16 statistics lose precision).
        panoptic_tail: end in the panoptic map (a ``PanopticFusion`` node).
        raw_outputs: with ``panoptic_tail``, keep ``mask_probs`` among the outputs.
        batch: B, the images one forward takes (every input and output leads with it). Each image is its own
            problem, exactly as B batch-1 runs: its own frame (its ``valid_hw`` row), RPN top-k, NMS per level
            and per class within the image (never across images), its own top D and panoptic tail.

    Run eagerly (not being exported to ONNX), the twin is **sync-free** by default (:attr:`sync_free`): NMS,
    multi-level RoIAlign and the panoptic tail are fixed-shape tensor work (:func:`~trt_panoptic.ops.boxes.
    nms_keep_mask`, :func:`~trt_panoptic.ops.poolers.multilevel_roi_align_fixed`,
    :func:`~trt_panoptic.postprocess.panoptic_fixed.panoptic_table_fixed`) with no host sync and no
    data-dependent shape, so the forward can be captured as a CUDA graph or traced by ``torch.export``. Each
    of them is exact within static bounds (NMS and overlap-rule rounds, RoI window size) and reports on the
    device whether the frame stayed inside them: :meth:`infer` returns that flag. With ``sync_free`` False
    the twin runs the exact ops whose ONNX nodes it exports (host loops, data-dependent shapes): what a
    caller falls back to for a frame whose flag is False.
    """

    def __init__(self, model: PanopticFPN, height: int, width: int, *, half: bool = False,
                 panoptic_tail: bool = False, raw_outputs: bool = False, batch: int = 1) -> None:
        super().__init__()
        check_export_size(height, width, model.size_divisibility)
        check_batch(batch)
        self.batch = batch
        # Normalization stays FP32 (103.53 is 103.5 in FP16); the rest of the model may be an FP16 copy.
        self.register_buffer("pixel_mean", model.pixel_mean.detach().clone().float(), persistent=False)
        self.register_buffer("pixel_std", model.pixel_std.detach().clone().float(), persistent=False)
        # Pixel row and column indices, compared with valid_hw to zero the padding after normalization.
        device = model.pixel_mean.device
        self.register_buffer("pixel_rows", torch.arange(height, dtype=torch.float32, device=device)[:, None], persistent=False)
        self.register_buffer("pixel_cols", torch.arange(width, dtype=torch.float32, device=device)[None, :], persistent=False)
        # FP16 copy: normalization stays FP32 (Float32Norm), as box math, NMS and the mask sigmoid do
        self.model = _keep_norms_float32(copy.deepcopy(model).half()) if half else model
        self.height, self.width = height, width
        self.half = half
        self.panoptic_tail = panoptic_tail
        self.raw_outputs = raw_outputs
        self.fusion = dict(model.fusion)
        self.num_stuff = model.semantic_head.predictor.out_channels - 1
        rpn = model.rpn
        strides = rpn.anchor_generator.strides
        self.rpn_levels = len(strides)
        # P6 is a stride-2 max-pool of P5, so its size rounds up (ceil); P2..P5 divide exactly.
        anchors = [rpn.anchor_generator.grid_anchors(i, -(-height // s), -(-width // s)) for i, s in enumerate(strides)]
        for i, a in enumerate(anchors):
            self.register_buffer(f"anchors_{i}", a.float(), persistent=False)
        self.pre_k = [min(rpn.pre_nms_topk[False], a.shape[0]) for a in anchors]
        self.post_k = min(rpn.post_nms_topk[False], sum(self.pre_k))
        # Each level's block of the concatenated RPN boxes, padded to the largest (padding → one index past the
        # end), for the eager fixed-shape NMS; the exported graph runs one NonMaxSuppression instead.
        total, widest = sum(self.pre_k), max(self.pre_k)
        starts = [sum(self.pre_k[:i]) for i in range(len(self.pre_k))]
        index = torch.full((len(self.pre_k), widest), total, dtype=torch.int64)
        for i, (start, k) in enumerate(zip(starts, self.pre_k)):
            index[i, :k] = torch.arange(start, start + k)
        self.register_buffer("level_index", index, persistent=False)
        #: eager forward without host syncs (see the class docstring); False: the exact host-side ops
        self.sync_free = True
        #: static bounds of the sync-free ops: NMS rounds (ops.boxes.nms_keep_mask), overlap-rule rounds
        #: (postprocess.panoptic_fixed) and the RoI sides (short, long) in feature pixels the pooler's windows hold
        self.nms_rounds = 32
        self.tail_rounds = DEFAULT_ROUNDS
        self.pool_extent = (28, 56)
        #: the exactness flags of the frame being computed (see :meth:`infer`)
        self._flags: list[Tensor] = []
        heads = model.roi_heads
        self.num_classes = heads.num_classes
        self.detections = min(heads.detections_per_image, self.post_k * self.num_classes)
        roi_strides = list(heads.strides)
        if roi_strides != [4, 8, 16, 32]:
            raise TrtPanopticError(f"export should see RoI heads on P2..P5 (strides 4..32), got strides {roi_strides} — export a standard Panoptic FPN")

    # ---- helpers ---------------------------------------------------------------------------------------
    def _compute(self, x: Tensor) -> Tensor:
        return x.half() if self.half else x

    def _eager_sync_free(self) -> bool:
        return self.sync_free and not torch.onnx.is_in_onnx_export()

    def pool(self, features: list[Tensor], boxes: Tensor, output_size: int) -> Tensor:
        """Multi-level RoIAlign of each image's Tensor[B, R, 4] boxes over its own P2..P5 → Tensor[B·R, C, P, P]
        (image-major)."""
        heads = self.model.roi_heads
        b, r = boxes.shape[:2]
        flat = boxes.reshape(-1, 4)
        # the image each RoI samples: a constant of the fixed batch (RoI i of image j is row j·R + i)
        batch = torch.arange(b, device=boxes.device)[:, None].expand(b, r).reshape(-1)
        if self._eager_sync_free():
            rois = torch.cat([batch[:, None].to(flat.dtype), flat], dim=1)
            pooled, exact = multilevel_roi_align_fixed(
                [f.float() for f in features], rois, output_size, list(heads.strides), heads.sampling_ratio,
                aligned=True, canonical_box_size=heads.canonical_box_size, canonical_level=heads.canonical_level,
                max_short=self.pool_extent[0], max_long=self.pool_extent[1])
            self._flags.append(exact)
            return self._compute(pooled)
        area = (flat[:, 2] - flat[:, 0]) * (flat[:, 3] - flat[:, 1])
        # Eqn. (1) of the FPN paper, as trt_panoptic.ops.assign_boxes_to_levels (levels 2..5 → 0..3).
        level = torch.floor(heads.canonical_level + torch.log2(torch.sqrt(area) / heads.canonical_box_size + 1e-8))
        level = level.clamp(min=2, max=5) - 2
        pooled = []
        for i, (feat, stride) in enumerate(zip(features, heads.strides)):
            # A RoI of another level becomes an empty box far outside the map: it pools to exactly 0 for any
            # sampling ratio (no sample inside [-1, H]), and costs one sample per bin at most.
            rois = torch.where((level == i)[:, None], flat, torch.full_like(flat, _FAR))
            out = onnx_roi_align(feat.float(), rois, batch, output_size, 1.0 / stride, heads.sampling_ratio)
            pooled.append(out)
        return self._compute(_OnnxSum.apply(*pooled))

    # ---- forward ---------------------------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return [INPUT_NAME, VALID_HW_NAME]

    @property
    def output_names(self) -> list[str]:
        if not self.panoptic_tail:
            return list(OUTPUT_NAMES)
        kept = [n for n in OUTPUT_NAMES if n != "mask_probs" or self.raw_outputs]
        return kept + list(TAIL_OUTPUT_NAMES)

    def forward(self, image: Tensor, valid_hw: Tensor | None = None) -> tuple[Tensor, ...]:
        """``image``: uint8 Tensor[B, 3, H, W] in the model's channel order (``cfg.model.input.format``, BGR by
        default); ``valid_hw``: int32 [B, 2], each frame's height and width inside its image (None = all of
        it) → the outputs above, in :attr:`output_names` order."""
        outputs, _ = self.infer(image, valid_hw)
        return tuple(outputs[name] for name in self.output_names)

    def infer(self, image: Tensor, valid_hw: Tensor | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """As :meth:`forward` → (every output by name, exact Tensor[] bool on the device: the sync-free ops
        stayed within their static bounds for every image, so the outputs are those of the exact ops; always
        True with ``sync_free`` False)."""
        if image.dim() != 4 or image.shape[0] != self.batch:
            raise TrtPanopticError(f"image should be [{self.batch}, 3, {self.height}, {self.width}] (the twin's batch), "
                                   f"got {list(image.shape)} — build the twin with batch={image.shape[0]} or pad the batch")
        self._flags = []
        m = self.model
        if valid_hw is None:
            valid_hw = torch.tensor([[self.height, self.width]] * self.batch, dtype=torch.int32, device=image.device)
        x = self.normalize(image, valid_hw)
        features = m.backbone(self._compute(x))
        sem = upsample_logits(m.semantic_head(features), m.semantic_head.common_stride)
        sem_labels = sem.argmax(dim=1).to(torch.int32)
        limit = frame_limits(valid_hw)
        proposals, valid = self.proposals(features, limit)
        roi_feats = [features[f] for f in m.roi_heads.in_features]
        boxes, scores, classes, num = self.detect(roi_feats, proposals, valid, limit)
        mask_probs = self.masks(roi_feats, boxes, classes)
        outputs = {"sem_labels": sem_labels, "boxes": boxes, "scores": scores, "classes": classes.to(torch.int32),
                   "mask_probs": mask_probs, "num_detections": num}
        if self.panoptic_tail:
            outputs.update(zip(TAIL_OUTPUT_NAMES, self.tail(outputs, valid_hw)))
        flags = self._flags
        self._flags = []
        exact = torch.stack(flags).all() if flags else torch.ones((), dtype=torch.bool, device=image.device)
        return outputs, exact

    def tail(self, outputs: dict[str, Tensor], valid_hw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The panoptic tail on the detection outputs → (panoptic [B, H, W], segments [B, D + S, 10],
        num_segments [B])."""
        f = self.fusion
        # stuff_area_limit 0: the graph keeps every stuff segment and the host applies the limit at the
        # frame's resolution, so the limit means frame pixels whatever the letterbox (as in PyTorch)
        if self._eager_sync_free():
            results = []
            for i in range(self.batch):  # a static loop: each image's fixed-shape tail, no host sync
                pan, table, count, exact = panoptic_table_fixed(
                    outputs["sem_labels"][i], outputs["mask_probs"][i], outputs["boxes"][i], outputs["scores"][i],
                    outputs["classes"][i], outputs["num_detections"][i:i + 1], valid_hw[i], num_stuff=self.num_stuff,
                    instance_score_thresh=float(f["instance_score_thresh"]), overlap_thresh=float(f["overlap_thresh"]),
                    stuff_area_limit=0, mask_threshold=0.5, rounds=self.tail_rounds)
                self._flags.append(exact)
                results.append((pan, table, count.reshape(1)))
            pans, tables, counts = zip(*results)
            return torch.stack(pans), torch.stack(tables), torch.cat(counts)
        return _PanopticFusion.apply(outputs["sem_labels"], outputs["mask_probs"], outputs["boxes"], outputs["scores"],
                                     outputs["classes"], outputs["num_detections"], valid_hw,
                                     float(f["instance_score_thresh"]), float(f["overlap_thresh"]), 0, 0.5,
                                     self.num_stuff, (self.detections, self.height, self.width))

    def normalize(self, image: Tensor, valid_hw: Tensor) -> Tensor:
        """``(image - mean) / std`` inside each image's frame and exactly 0 in the padding (FP32 Tensor[B, 3, H, W]).

        The eager model zero-pads after normalizing; padding the uint8 input with the pixel mean cannot
        give that (the mean is not an integer), so the graph zeroes the padding itself.
        """
        x = (image.float() - self.pixel_mean) / self.pixel_std
        hw = valid_hw.float()[:, :, None, None]  # [B, 2, 1, 1]: broadcast against the [H, 1] rows, [1, W] columns
        inside = (self.pixel_rows < hw[:, 0:1]) & (self.pixel_cols < hw[:, 1:2])
        return torch.where(inside, x, torch.zeros_like(x))

    def proposals(self, features: dict[str, Tensor], limit: Tensor) -> tuple[Tensor, Tensor]:
        """RPN inference per image → (proposals Tensor[B, P, 4], valid Tensor[B, P] bool), each image's sorted by
        objectness.

        ``limit``: :func:`frame_limits`; boxes are clipped to their image's frame, so those in the padding are empty.
        """
        rpn = self.model.rpn
        logits, deltas = rpn.head([features[f] for f in rpn.in_features])
        boxes_all, scores_all, levels_all = [], [], []
        for lvl, (lg, dl) in enumerate(zip(logits, deltas)):
            anchors = getattr(self, f"anchors_{lvl}")
            assert lg.shape[1] == anchors.shape[0], "graph_model: anchors must match the RPN head's grid"
            top, idx = lg.float().topk(self.pre_k[lvl], dim=1, sorted=True)  # [B, k]
            picked = torch.gather(dl.float(), 1, idx[:, :, None].expand(-1, -1, 4))
            decoded = rpn.box_coder.decode(picked.reshape(-1, 4), anchors[idx].reshape(-1, 4))
            boxes_all.append(decoded.reshape(idx.shape[0], idx.shape[1], 4))
            scores_all.append(top)
            levels_all.append(torch.full((self.pre_k[lvl],), lvl, dtype=torch.int64, device=top.device))
        boxes = clip_to_frame(torch.cat(boxes_all, dim=1), limit)
        scores = torch.cat(scores_all, dim=1)
        levels = torch.cat(levels_all)
        keep = ((boxes[..., 2] - boxes[..., 0]) > rpn.min_box_size) & ((boxes[..., 3] - boxes[..., 1]) > rpn.min_box_size)
        keep = keep & torch.isfinite(scores) & torch.isfinite(boxes).all(dim=-1)
        scores = torch.where(keep, scores, torch.full_like(scores, _NEG))
        if not self._eager_sync_free():
            # Per-level NMS: the level is the NMS "class", the image its batch; a box scores _NEG (not a
            # candidate) on other levels.
            onehot = levels[None, :] == torch.arange(self.rpn_levels, device=levels.device)[:, None]
            per_level = torch.where(onehot[None], scores[:, None, :], torch.full_like(onehot, _NEG, dtype=scores.dtype))
            kept = _selected_mask(onnx_nms(boxes, per_level, self.post_k, rpn.nms_thresh, _NEG / 2), scores)
        else:
            kept = self._level_nms(boxes, scores, rpn.nms_thresh)
        ranked = torch.where(kept, scores, torch.full_like(scores, 2 * _NEG))
        top, idx = ranked.topk(self.post_k, dim=1, sorted=True)
        return torch.gather(boxes, 1, idx[:, :, None].expand(-1, -1, 4)), top > _NEG

    def _level_nms(self, boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
        """The RPN's per-level NMS in eager mode: each (image, level) block of ``boxes`` [B, N, 4] is one row of
        :func:`~trt_panoptic.ops.boxes.nms_keep_mask` (no host sync) → kept Tensor[B, N] bool."""
        b, n = scores.shape
        pad_box = torch.zeros_like(boxes[:, :1])
        pad_score = torch.full_like(scores[:, :1], _NEG)
        rows = self.level_index  # [L, widest], padding → index n
        groups = torch.cat([boxes, pad_box], dim=1)[:, rows].flatten(0, 1)
        keep, exact = nms_keep_mask(groups, torch.cat([scores, pad_score], dim=1)[:, rows].flatten(0, 1),
                                    iou_threshold, score_threshold=_NEG / 2, max_per_group=self.post_k,
                                    rounds=self.nms_rounds)
        self._flags.append(exact)
        kept = torch.zeros((b, n + 1), dtype=torch.bool, device=scores.device)
        return kept.scatter(1, rows.reshape(1, -1).expand(b, -1), keep.reshape(b, -1))[:, :-1]

    def detect(self, features: list[Tensor], proposals: Tensor, valid: Tensor,
               limit: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Fast R-CNN inference per image on proposals [B, R, 4] → boxes [B, D, 4] (clipped to the image's frame,
        ``limit``), scores [B, D], classes [B, D] int64, num_detections [B] int32."""
        heads = self.model.roi_heads
        k = self.num_classes
        b, r = proposals.shape[:2]
        logits, deltas = heads.box_head(self.pool(features, proposals, heads.box_resolution))
        scores = F.softmax(logits.float(), dim=-1)[:, :-1]
        scores = torch.where(valid.reshape(-1, 1), scores, torch.full_like(scores, -1.0))
        boxes = heads.box_coder.decode(deltas.float(), proposals.reshape(-1, 4)).reshape(b, r * k, 4)
        boxes = clip_to_frame(boxes, limit)  # [B, R·K, 4]: proposal-major, class-minor
        flat = scores.reshape(b, r * k)
        if not self._eager_sync_free():
            # Per-class NMS over each image's (proposal, class) boxes: the class is the NMS "class" axis.
            cls_of = torch.arange(k, device=flat.device).repeat(r)
            onehot = cls_of[None, :] == torch.arange(k, device=flat.device)[:, None]
            per_class = torch.where(onehot[None], flat[:, None, :], torch.full_like(onehot, -1.0, dtype=flat.dtype))
            kept = _selected_mask(onnx_nms(boxes, per_class, self.detections, heads.nms_thresh, heads.score_thresh), flat)
        else:  # the same decisions as fixed-shape tensor work: class c of image i is row i·K + c
            keep, exact = nms_keep_mask(boxes.reshape(b, r, k, 4).transpose(1, 2).reshape(b * k, r, 4),
                                        flat.reshape(b, r, k).transpose(1, 2).reshape(b * k, r), heads.nms_thresh,
                                        score_threshold=heads.score_thresh, max_per_group=self.detections,
                                        rounds=self.nms_rounds)
            kept = keep.reshape(b, k, r).transpose(1, 2).reshape(b, r * k)
            self._flags.append(exact)
        ranked = torch.where(kept, flat, torch.full_like(flat, -1.0))
        top, idx = ranked.topk(self.detections, dim=1, sorted=True)  # [B, D]
        ok = top > heads.score_thresh
        picked = torch.gather(boxes, 1, idx[:, :, None].expand(-1, -1, 4))
        det_boxes = torch.where(ok[:, :, None], picked, torch.zeros_like(picked))
        det_scores = torch.where(ok, top, torch.zeros_like(top))
        det_classes = torch.where(ok, idx % k, torch.zeros_like(idx))
        num = ok.sum(dim=1).to(torch.int32)
        return det_boxes, det_scores, det_classes, num

    def masks(self, features: list[Tensor], boxes: Tensor, classes: Tensor) -> Tensor:
        """Mask head on the detections [B, D, 4] → Tensor[B, D, 28, 28] probabilities of each detection's class."""
        heads = self.model.roi_heads
        logits = heads.mask_head(self.pool(features, boxes, heads.mask_resolution)).float()
        m = logits.shape[-1]
        index = classes.reshape(-1, 1, 1, 1).expand(-1, 1, m, m)
        # D from the twin, not from boxes.shape: traced with a dynamic batch, a size read off a tensor would
        # leave the exported D symbolic
        return torch.gather(logits, 1, index).reshape(-1, self.detections, m, m).sigmoid()


def _selected_mask(selected: Tensor, scores: Tensor) -> Tensor:
    """ONNX ``NonMaxSuppression``'s selected rows Tensor[K, 3] (image, class, box) → kept Tensor[B, N] bool, over
    ``scores`` [B, N]'s boxes."""
    b, n = scores.shape
    flat = selected[:, 0] * n + selected[:, 2]
    kept = torch.zeros(b * n, dtype=scores.dtype, device=scores.device)
    return kept.scatter(0, flat, torch.ones_like(flat, dtype=scores.dtype)).reshape(b, n) > 0
