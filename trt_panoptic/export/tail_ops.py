"""The ``PanopticFusion`` node as standard ONNX ops, for the portable flavour.

The export twin emits one ``trt_panoptic::PanopticFusion`` node (:mod:`trt_panoptic.export.graph_model`);
the TensorRT flavour keeps it for the plugin, and :func:`expand_panoptic_fusion` replaces it in the portable
flavour by a subgraph that any ONNX runtime runs (opset 16+: ``GridSample``, ``ScatterElements`` with
``reduction="add"``). Same inputs, outputs and results as the plugin (``plugins/panoptic_fusion/README.md``).

How detectron2's sequential overlap rule maps onto ONNX:

- Candidates are the first ``num_detections`` rows, ranked by ``TopK`` (ties: lower index first, as a stable
  sort), those at or above the score threshold form a prefix; a NaN score is never a candidate.
- One ``Loop`` iteration per candidate, in rank order, works on the candidate's paste window only (O(box
  area)): the window's grid, exactly as ``postprocess.masks.paste_masks_in_image`` computes it, one
  ``GridSample`` of the 28×28 mask, the overlap with already-placed pixels (a ``Gather`` of the flat id map),
  the decision in float64 as Python makes it, and a ``ScatterND`` of the new id into the window's unclaimed
  pixels. The id map is the loop-carried state, so decisions follow one another exactly as in the reference.
- After the loop, O(H·W) once: a label histogram of the unclaimed valid pixels gives the stuff segments (every
  one with a pixel: the graph keeps them all, the host applies ``stuff_area_limit``), histograms of
  (id, column) and (id, row) give each segment's pixel bounds, and the table rows are gathered in place.

A batch of B images (``export --batch B``) gets B copies of the per-image subgraph, each on its image's slice
of the inputs, concatenated in image order (:func:`batched_tail_nodes`): images never interact, and a
``Loop`` over images would have to nest the candidate ``Loop``. So the expansion needs a fixed batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.plugins.host import field_decimal

OP_TYPE = "PanopticFusion"
#: GridSample (16) is the newest op the subgraph needs; opset 20 renamed its "bilinear" mode to "linear".
MIN_OPSET = 16


@dataclass(frozen=True)
class TailShape:
    """Static sizes of the tail: input H×W, detections D, mask side M, stuff classes S."""

    height: int
    width: int
    detections: int
    mask_size: int
    num_stuff: int


class _Builder:
    """Appends nodes with unique output names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def op(self, op_type: str, *inputs: str, outputs: int = 1, name: str | None = None, **attrs) -> str | list[str]:
        outs = [self._name(name or op_type) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0] + "/node", **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, value, dtype: type, name: str = "const") -> str:
        array = np.asarray(value, dtype=dtype)
        return self.op("Constant", name=name, value=numpy_helper.from_array(array))

    def named(self, op_type: str, out: str, *inputs: str, **attrs) -> str:
        """A node whose output has a given name (the replaced node's outputs, the loop body's outputs)."""
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=self._name(op_type) + "/node", **attrs))
        return out


def _f32_at_least(x: float) -> np.float32:
    """The smallest float32 ≥ ``x``: ``score_f32 >= x`` (Python, float64) ⟺ ``score_f32 >= _f32_at_least(x)``."""
    y = np.float32(x)
    if float(y) < x:
        y = np.nextafter(y, np.float32(np.inf))
    return y


def _loop_body(shape: TailShape, outer: dict[str, str], map_type: int, *, overlap_thresh: float,
               mask_threshold: float, prefix: str = "tail/") -> onnx.GraphProto:
    """Candidate ``i`` (rank order): paste in its window, decide, write its id.

    State: the flat map of thing ids, the next id, and per thing id the candidate's index among the
    detections ([D + 1]: slot D takes the writes of rejected candidates). Everything per candidate that does
    not depend on earlier decisions (windows, sampling scales) is computed before the loop, for all at once.
    """
    hw, d, m = shape.height * shape.width, shape.detections, shape.mask_size
    body = f"{prefix}body/"
    b = _Builder(body)
    it, cond = body + "i", body + "cond"
    pan, next_id, owner = body + "pan", body + "next_id", body + "owner"
    i64, i32, f32 = np.int64, np.int32, np.float32

    window = b.op("Gather", outer["windows"], it, axis=0)  # xs, xe, ys, ye, detection index
    xs, xe, ys, ye, det = (b.op("Gather", window, b.const(k, i64), axis=0) for k in range(5))
    sampling = b.op("Gather", outer["sampling"], it, axis=0)  # x offset, x scale, y offset, y scale
    ox, sx, oy, sy = (b.op("Gather", sampling, b.const(k, i64), axis=0) for k in range(4))
    mask = b.op("Gather", outer["masks"], det, axis=0)  # [M, M]

    def taps(start: str, end: str, offset: str, scale: str, axis: int) -> tuple[str, str]:
        # Bilinear resampling along one axis as a matrix: pixel c samples the mask at
        # pos = (c + 0.5 - lo) * M / (hi - lo) - 0.5 (grid_sample, align_corners=False), and mask index j
        # weighs max(0, 1 - |pos - j|) — the two bilinear weights, 0 outside the mask (zero padding).
        coords = b.op("Range", start, end, b.const(1, i64))
        pos = b.op("Sub", b.op("Mul", b.op("Add", b.op("Cast", coords, to=TensorProto.FLOAT), offset), scale),
                   b.const(0.5, f32))
        dist = b.op("Sub", b.op("Unsqueeze", pos, b.const([axis], i64)),
                    b.const(np.arange(m).reshape((m, 1) if axis == 0 else (1, m)), f32))
        return coords, b.op("Relu", b.op("Sub", b.const(1, f32), b.op("Abs", dist)))

    cols, along_x = taps(xs, xe, ox, sx, 0)  # [M, ww]
    rows, along_y = taps(ys, ye, oy, sy, 1)  # [hh, M]
    prob = b.op("MatMul", b.op("MatMul", along_y, mask), along_x)  # [hh, ww]
    inside = b.op("GreaterOrEqual", prob, b.const(mask_threshold, f32))
    pix = b.op("Add", b.op("Unsqueeze", b.op("Mul", rows, b.const(shape.width, i64)), b.const([1], i64)),
               b.op("Unsqueeze", cols, b.const([0], i64)))
    current = b.op("Gather", pan, pix, axis=0)
    kept = b.op("And", inside, b.op("Equal", b.op("Cast", current, to=TensorProto.INT32), b.const(0, i32)))
    area = b.op("Cast", b.op("ReduceSum", b.op("Cast", inside, to=TensorProto.INT32), keepdims=0), to=TensorProto.DOUBLE)
    kept_area = b.op("Cast", b.op("ReduceSum", b.op("Cast", kept, to=TensorProto.INT32), keepdims=0),
                     to=TensorProto.DOUBLE)
    # taken / area <= overlap_thresh in float64, as the reference's Python decides; 0 / 0 is NaN: rejected
    accept = b.op("LessOrEqual", b.op("Div", b.op("Sub", area, kept_area), area), b.const(overlap_thresh, np.float64))
    write = b.op("And", kept, accept)
    new_id = b.op("Add", next_id, b.const(1, i32))
    b.named("ScatterND", pan + "_out", pan, b.op("Unsqueeze", pix, b.const([2], i64)),
            b.op("Where", write, b.op("Cast", new_id, to=map_type), current))
    b.named("Where", next_id + "_out", accept, new_id, next_id)
    slot = b.op("Where", accept, b.op("Cast", next_id, to=TensorProto.INT64), b.const(d, i64))
    b.named("ScatterND", owner + "_out", owner, b.op("Reshape", slot, b.const([1, 1], i64)),
            b.op("Reshape", det, b.const([1], i64)))
    b.named("Identity", cond + "_out", cond)
    scalar: list[int] = []
    state = [(pan, map_type, [hw]), (next_id, TensorProto.INT32, scalar), (owner, TensorProto.INT64, [d + 1])]
    return helper.make_graph(
        b.nodes, "panoptic_tail_body",
        [helper.make_tensor_value_info(it, TensorProto.INT64, scalar),
         helper.make_tensor_value_info(cond, TensorProto.BOOL, scalar),
         *(helper.make_tensor_value_info(n, t, dims) for n, t, dims in state)],
        [helper.make_tensor_value_info(cond + "_out", TensorProto.BOOL, scalar),
         *(helper.make_tensor_value_info(n + "_out", t, dims) for n, t, dims in state)],
    )


def panoptic_tail_nodes(inputs: list[str], outputs: list[str], shape: TailShape, *, instance_score_thresh: float,
                        overlap_thresh: float, mask_threshold: float = 0.5, opset: int = 17,
                        prefix: str = "tail/") -> list[onnx.NodeProto]:
    """Standard-op nodes computing ``PanopticFusion`` for one image (batch 1).

    Args:
        inputs: names of sem_labels int32 [1, H, W], mask_probs float [1, D, M, M], boxes float32 [1, D, 4],
            scores float32 [1, D], classes int32 [1, D], num_detections int32 [1], valid_hw int32 [1, 2].
        outputs: names for panoptic int32 [1, H, W], segments float32 [1, D + S, 10], num_segments int32 [1].
        shape: the static sizes.
        instance_score_thresh, overlap_thresh: compared in float64, as the reference's Python compares them.
        prefix: of every name the nodes make (one per image when a batch is unrolled).
    """
    if opset < MIN_OPSET:
        raise TrtPanopticError(f"the portable panoptic tail should have opset >= {MIN_OPSET}, got {opset} — export with --opset 17")
    labels, masks, boxes, scores, classes, num, valid_hw = inputs
    h, w, d, s, m = shape.height, shape.width, shape.detections, shape.num_stuff, shape.mask_size
    b = _Builder(prefix)
    i64, i32, f32 = np.int64, np.int32, np.float32
    squeeze0 = b.const([0], i64)
    # The loop carries the thing-id map; one byte per pixel keeps its copy per iteration small.
    map_type, map_dtype = (TensorProto.UINT8, np.uint8) if d < 256 else (TensorProto.INT32, np.int32)

    scores1 = b.op("Squeeze", scores, squeeze0)
    masks3 = b.op("Cast", b.op("Squeeze", masks, squeeze0), to=TensorProto.FLOAT)
    # valid region, clipped into the input (a 0 would leave no pixel to fuse)
    vhw = b.op("Max", b.op("Min", b.op("Cast", b.op("Squeeze", valid_hw, squeeze0), to=TensorProto.INT64),
                           b.const([h, w], i64)), b.const([1, 1], i64))
    vh = b.op("Squeeze", b.op("Slice", vhw, b.const([0], i64), b.const([1], i64)), squeeze0)
    vw = b.op("Squeeze", b.op("Slice", vhw, b.const([1], i64), b.const([2], i64)), squeeze0)

    # Candidates: the first num_detections rows, best score first, a prefix at or above the threshold.
    live = b.op("And", b.op("Less", b.const(np.arange(d), i64), b.op("Cast", num, to=TensorProto.INT64)),
                b.op("Not", b.op("IsNaN", scores1)))
    ranked = b.op("Where", live, scores1, b.const(-np.inf, f32))
    top, order = b.op("TopK", ranked, b.const([d], i64), axis=0, largest=1, sorted=1, outputs=2)
    count = b.op("ReduceSum", b.op("Cast", b.op("GreaterOrEqual", top, b.const(_f32_at_least(instance_score_thresh), f32)),
                                   to=TensorProto.INT64), keepdims=0)

    # Every candidate's paste window (the reference's: floor(lo) - 1 .. ceil(hi) + 1, clipped to the valid
    # region) and sampling scales, in rank order. A box that is not finite or is empty holds no pixel: it gets
    # an empty window.
    box = b.op("Gather", b.op("Squeeze", boxes, squeeze0), order, axis=0)  # [D, 4]
    lo, hi = (b.op("Slice", box, b.const([k], i64), b.const([k + 2], i64), b.const([1], i64)) for k in (0, 2))  # [D, 2]
    finite = b.op("Equal", b.op("Sub", box, box), b.const(0, f32))  # x - x is 0 only for finite x

    def all_along_rows(x: str) -> str:
        # ReduceMin took its axes as an attribute before opset 18, as an input since
        ints = b.op("Cast", x, to=TensorProto.INT32)
        low = (b.op("ReduceMin", ints, axes=[1], keepdims=1) if opset < 18
               else b.op("ReduceMin", ints, b.const([1], i64), keepdims=1))
        return b.op("Cast", low, to=TensorProto.BOOL)

    placeable = b.op("And", all_along_rows(finite), all_along_rows(b.op("Greater", hi, lo)))  # [D, 1]
    lo = b.op("Where", placeable, lo, b.const(0, f32))
    hi = b.op("Where", placeable, hi, b.const(1, f32))
    size = b.op("Unsqueeze", b.op("Concat", b.op("Unsqueeze", vw, squeeze0), b.op("Unsqueeze", vh, squeeze0), axis=0),
                squeeze0)  # [1, 2]: x, y
    start = b.op("Max", b.op("Sub", b.op("Cast", b.op("Floor", lo), to=TensorProto.INT64), b.const(1, i64)), b.const(0, i64))
    end = b.op("Min", b.op("Add", b.op("Cast", b.op("Ceil", hi), to=TensorProto.INT64), b.const(1, i64)), size)
    end = b.op("Where", b.op("And", placeable, b.op("Greater", end, start)), end, start)  # empty: start..start
    offset = b.op("Sub", b.const(0.5, f32), lo)
    scale = b.op("Div", b.const(float(m), f32), b.op("Sub", hi, lo))
    windows = b.op("Concat", b.op("Slice", start, b.const([0], i64), b.const([1], i64), b.const([1], i64)),
                   b.op("Slice", end, b.const([0], i64), b.const([1], i64), b.const([1], i64)),
                   b.op("Slice", start, b.const([1], i64), b.const([2], i64), b.const([1], i64)),
                   b.op("Slice", end, b.const([1], i64), b.const([2], i64), b.const([1], i64)),
                   b.op("Unsqueeze", order, b.const([1], i64)), axis=1)  # [D, 5]
    sampling = b.op("Concat", b.op("Slice", offset, b.const([0], i64), b.const([1], i64), b.const([1], i64)),
                    b.op("Slice", scale, b.const([0], i64), b.const([1], i64), b.const([1], i64)),
                    b.op("Slice", offset, b.const([1], i64), b.const([2], i64), b.const([1], i64)),
                    b.op("Slice", scale, b.const([1], i64), b.const([2], i64), b.const([1], i64)), axis=1)  # [D, 4]

    body = _loop_body(shape, {"windows": windows, "sampling": sampling, "masks": masks3}, map_type,
                      overlap_thresh=overlap_thresh, mask_threshold=mask_threshold, prefix=prefix)
    things, num_things, owner = b.op(
        "Loop", count, b.const(True, bool), b.const(np.zeros(h * w), map_dtype), b.const(0, i32),
        b.const(np.zeros(d + 1), i64), body=body, outputs=3)

    # Stuff: every label 1..S with unclaimed valid pixels, ids after the things in label order.
    things = b.op("Reshape", b.op("Cast", things, to=TensorProto.INT32), b.const([h, w], i64))
    valid = b.op("And", b.op("Less", b.const(np.arange(h)[:, None], i64), vh),
                 b.op("Less", b.const(np.arange(w)[None, :], i64), vw))
    label = b.op("Clip", b.op("Reshape", labels, b.const([h, w], i64)), b.const(0, i32), b.const(s, i32))
    free = b.op("And", b.op("Equal", things, b.const(0, i32)), valid)
    # One key per pixel: its label if free (0..S), else S + 1 + its thing id (S + 1: outside the valid region).
    # Histograms of (key, column) and (key, row) give every segment's area and pixel bounds.
    key = b.op("Where", free, label, b.op("Add", things, b.const(s + 1, i32)))
    keys = s + 2 + d
    ones = b.op("Expand", b.const(1, i32), b.const([h * w], i64))

    def histogram(index: str, length: int) -> str:
        flat = b.op("Reshape", index, b.const([h * w], i64))
        hist = b.op("ScatterElements", b.const(np.zeros(keys * length), i32), flat, ones, axis=0, reduction="add")
        return b.op("Reshape", hist, b.const([keys, length], i64))

    by_col = histogram(b.op("Add", b.op("Mul", key, b.const(w, i32)), b.const(np.arange(w)[None, :], i32)), w)
    by_row = histogram(b.op("Add", b.op("Mul", key, b.const(h, i32)), b.const(np.arange(h)[:, None], i32)), h)
    key_area = b.op("Cast", b.op("ReduceSum", by_col, b.const([1], i64), keepdims=0), to=TensorProto.INT64)  # [keys]
    stuff_area = b.op("Slice", key_area, b.const([0], i64), b.const([s + 1], i64))
    present = b.op("Cast", b.op("And", b.op("Greater", stuff_area, b.const(0, i64)), b.const(np.arange(s + 1) > 0, bool)),
                   to=TensorProto.INT32)
    present_rank = b.op("CumSum", present, b.const(0, i64))
    # segment id of every key: a present stuff label's id, 0 for other labels, a thing's own id, 0 outside
    key_id = b.op("Concat", b.op("Mul", b.op("Add", present_rank, num_things), present),
                  b.const(np.arange(d + 1), i32), axis=0)
    panoptic = b.op("Gather", key_id, key, axis=0)
    num_segments = b.op("Add", num_things, b.op("ReduceSum", present, keepdims=0))
    b.named("Reshape", outputs[0], panoptic, b.const([1, h, w], i64))
    b.named("Reshape", outputs[2], num_segments, b.const([1], i64))

    def bounds(hist: str) -> tuple[str, str]:
        touched = b.op("Cast", b.op("Greater", hist, b.const(0, i32)), to=TensorProto.INT32)
        some = b.op("Cast", b.op("Greater", b.op("ReduceSum", touched, b.const([1], i64), keepdims=0), b.const(0, i32)),
                    to=TensorProto.INT64)
        first = b.op("ArgMax", touched, axis=1, keepdims=0, select_last_index=0)
        last = b.op("ArgMax", touched, axis=1, keepdims=0, select_last_index=1)
        return b.op("Mul", first, some), b.op("Mul", b.op("Add", last, b.const(1, i64)), some)

    (bx0, bx1), (by0, by1) = bounds(by_col), bounds(by_row)
    key_stats = b.op("Concat", *(b.op("Unsqueeze", v, b.const([1], i64)) for v in (key_area, bx0, by0, bx1, by1)),
                     axis=1)  # [keys, 5]

    # Table rows j = 0..D+S-1 hold segment j + 1: thing rows first, then stuff, zero past num_segments.
    seg = b.const(np.arange(1, d + s + 1), i64)
    things64, total64 = b.op("Cast", num_things, to=TensorProto.INT64), b.op("Cast", num_segments, to=TensorProto.INT64)
    is_thing = b.op("LessOrEqual", seg, things64)
    in_table = b.op("LessOrEqual", seg, total64)
    # the k-th (1-based) present stuff label: how many prefix counts are still below k
    below = b.op("Less", b.op("Unsqueeze", b.op("Cast", present_rank, to=TensorProto.INT64), b.const([0], i64)),
                 b.op("Unsqueeze", b.op("Sub", seg, things64), b.const([1], i64)))
    stuff_label = b.op("Clip", b.op("ReduceSum", b.op("Cast", below, to=TensorProto.INT64), b.const([1], i64), keepdims=0),
                       b.const(0, i64), b.const(s, i64))
    instance = b.op("Gather", owner, b.op("Clip", b.op("Sub", seg, b.const(1, i64)), b.const(0, i64), b.const(d, i64)),
                    axis=0)
    fl = lambda x: b.op("Cast", x, to=TensorProto.FLOAT)  # noqa: E731
    category = b.op("Where", is_thing, fl(b.op("Gather", b.op("Squeeze", classes, squeeze0), instance, axis=0)),
                    fl(stuff_label))
    score = b.op("Where", is_thing, b.op("Gather", scores1, instance, axis=0), b.const(0, f32))
    inst_col = b.op("Where", is_thing, fl(instance), b.const(-1, f32))
    row_key = b.op("Where", is_thing, b.op("Add", seg, b.const(s + 1, i64)), stuff_label)
    stats = fl(b.op("Gather", key_stats, row_key, axis=0))  # [D + S, 5]: area, x0, y0, x1, y1
    head = b.op("Concat", *(b.op("Unsqueeze", c, b.const([1], i64)) for c in (fl(seg), fl(is_thing), category, score)),
                axis=1)
    table = b.op("Concat", head, b.op("Slice", stats, b.const([0], i64), b.const([1], i64), b.const([1], i64)),
                 b.op("Unsqueeze", inst_col, b.const([1], i64)),
                 b.op("Slice", stats, b.const([1], i64), b.const([5], i64), b.const([1], i64)), axis=1)
    table = b.op("Where", b.op("Unsqueeze", in_table, b.const([1], i64)), table, b.const(0, f32))
    b.named("Unsqueeze", outputs[1], table, squeeze0)
    return b.nodes


#: Input and output names of :func:`tail_model`, in the PanopticFusion node's order.
TAIL_INPUTS = ("sem_labels", "mask_probs", "boxes", "scores", "classes", "num_detections", "valid_hw")
TAIL_OUTPUTS = ("panoptic", "segments", "num_segments")


def tail_model(shape: TailShape, *, instance_score_thresh: float = 0.5, overlap_thresh: float = 0.5,
               mask_threshold: float = 0.5, opset: int = 17) -> onnx.ModelProto:
    """A model holding only the tail (inputs :data:`TAIL_INPUTS`, outputs :data:`TAIL_OUTPUTS`), as the portable
    export emits it: for tests and benchmarks of the tail alone at any size."""
    h, w, d, m, s = shape.height, shape.width, shape.detections, shape.mask_size, shape.num_stuff
    i32, f32 = TensorProto.INT32, TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info(n, t, dims) for n, t, dims in zip(
        TAIL_INPUTS, [i32, f32, f32, f32, i32, i32, i32], [[1, h, w], [1, d, m, m], [1, d, 4], [1, d], [1, d], [1], [1, 2]])]
    outputs = [helper.make_tensor_value_info(n, t, dims) for n, t, dims in zip(
        TAIL_OUTPUTS, [i32, f32, i32], [[1, h, w], [1, d + s, 10], [1]])]
    nodes = panoptic_tail_nodes(list(TAIL_INPUTS), list(TAIL_OUTPUTS), shape, instance_score_thresh=instance_score_thresh,
                                overlap_thresh=overlap_thresh, mask_threshold=mask_threshold, opset=opset)
    graph = helper.make_graph(nodes, "panoptic_tail", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def batched_tail_nodes(inputs: list[str], outputs: list[str], shape: TailShape, batch: int, **rules) -> list[onnx.NodeProto]:
    """:func:`panoptic_tail_nodes` for a fixed batch of ``batch`` images: the per-image subgraph unrolled once per
    image, each on its own slice of the inputs (a Loop over the images would nest the candidate Loop inside
    it; B static copies keep every loop a plain one), and the per-image outputs concatenated in image order.

    ``inputs`` / ``outputs`` as :func:`panoptic_tail_nodes` names them, with B in place of 1; ``rules``: its keyword
    arguments (thresholds, opset).
    """
    if batch == 1:
        return panoptic_tail_nodes(inputs, outputs, shape, **rules)
    b = _Builder("tail/batch/")
    i64 = np.int64
    parts: list[list[str]] = [[] for _ in outputs]
    for i in range(batch):
        start, end = b.const([i], i64), b.const([i + 1], i64)
        own = [b.op("Slice", name, start, end, b.const([0], i64), name=f"image{i}") for name in inputs]
        own_out = [f"tail{i}/{name}" for name in outputs]
        b.nodes.extend(panoptic_tail_nodes(own, own_out, shape, prefix=f"tail{i}/", **rules))
        for part, name in zip(parts, own_out):
            part.append(name)
    for out, part in zip(outputs, parts):
        b.named("Concat", out, *part, axis=0)
    return b.nodes


def expand_panoptic_fusion(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its ``PanopticFusion`` node replaced by :func:`batched_tail_nodes` (in place, returned).

    The batch must be fixed: the expansion unrolls it. A graph with a dynamic batch keeps the node for the
    TensorRT plugin, or stops at the detections (``--host-tail``).
    """
    graph = model.graph
    found = [i for i, n in enumerate(graph.node) if n.op_type == OP_TYPE]
    if len(found) != 1:
        raise TrtPanopticError(f"the exported graph should hold one {OP_TYPE} node, got {len(found)} — re-export it")
    index = found[0]
    node = graph.node[index]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    typed = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}

    def dims(name: str) -> list[int]:
        if name not in typed:
            raise TrtPanopticError(f"{OP_TYPE} input {name} should have a known shape, got none — re-export it")
        return [d.dim_value for d in typed[name].type.tensor_type.shape.dim]

    batch, h, w = dims(node.input[0])
    _, d, m, _ = dims(node.input[1])
    if batch <= 0:
        raise TrtPanopticError("the portable panoptic tail should have a fixed batch, got a dynamic one — export "
                               "--batch N, or --host-tail, or --flavor tensorrt for a dynamic batch")
    shape = TailShape(h, w, d, m, int(attrs["num_stuff"]))
    if attrs.get("stuff_area_limit", 0) != 0:
        raise TrtPanopticError(f"{OP_TYPE} should keep every stuff segment (stuff_area_limit 0), got {attrs['stuff_area_limit']}")
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    nodes = batched_tail_nodes(list(node.input), list(node.output), shape, batch,
                               instance_score_thresh=field_decimal(attrs["instance_score_thresh"]),
                               overlap_thresh=field_decimal(attrs["overlap_thresh"]),
                               mask_threshold=float(attrs["mask_threshold"]), opset=opset)
    del graph.node[index]
    for k, n in enumerate(nodes):
        graph.node.insert(index + k, n)
    if not any(n.domain == node.domain for n in graph.node):
        kept = [o for o in model.opset_import if o.domain != node.domain]
        del model.opset_import[:]
        model.opset_import.extend(kept)
    return model
