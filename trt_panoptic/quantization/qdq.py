"""Explicit INT8 quantization of an ONNX graph: QuantizeLinear/DequantizeLinear pairs placed as TensorRT expects.

Placement (NVIDIA's "Q/DQ layer placement" recommendations for TensorRT explicit quantization):

- Q/DQ on the *inputs* of Conv, ConvTranspose, Gemm and MatMul (activation per tensor, weight per
  channel), never on their outputs: TensorRT fuses DQ → Conv → (bias, ReLU, Add) → Q itself.
- Residual Adds (one operand is a Conv output, the other another activation): Q/DQ on the *other*
  operand, so TensorRT can fuse the Add into the Conv and read the shortcut in INT8 (ResNet blocks,
  FPN top-down sums). When both operands are Conv outputs the second (the shortcut by the
  ``out + identity`` convention) gets the pair.
- One Q/DQ pair per tensor, shared by all quantized consumers; other consumers keep the float tensor.
- Symmetric INT8: ``scale = amax / 127``, zero-point 0 typed int8, activation scales scalar.
- Weights: pre-quantized int8 initializer → DequantizeLinear (default) or float → Q → DQ; one scale
  per output channel: axis 0 for Conv ([K, C, kh, kw]) and Gemm with transB=1 ([N, K]); axis 1 for Gemm
  with transB=0 and MatMul ([K, N]). ConvTranspose weights are [C_in, C_out/g, kh, kw]; TensorRT's
  kernels take deconvolution weight scales along axis 0 (per *input* channel: NVIDIA/TensorRT#1694,
  #2380 — "we don't support per-output-channel quant for ConvTranspose"), so axis 0 is the default;
  ``convtranspose_axis=1`` gives per-output-channel scales for runtimes that want those (ONNX Runtime's
  quantizer, tf2onnx).
- A skip list of glob patterns (matched against node names and weight names) keeps nodes in float:
  by default the final predictors (box class/box deltas, mask logits, semantic logits, RPN objectness
  and deltas). RPN/NMS/RoI bookkeeping (TopK, NonMaxSuppression, RoiAlign, box decoding) is never a
  candidate: only the four linear ops above and residual Adds are quantized.
"""
from __future__ import annotations

import fnmatch
import logging
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

#: Final predictors and bookkeeping kept in float by default (globs on node or weight names).
DEFAULT_SKIP: tuple[str, ...] = (
    "*box_head*cls_score*",
    "*box_head*bbox_pred*",
    "*mask_head*predictor*",
    "*semantic_head*predictor*",
    "*objectness_logits*",
    "*anchor_deltas*",
)
LINEAR_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
QMAX = 127
_FLOAT, _FLOAT16 = 1, 10  # onnx.TensorProto.FLOAT, FLOAT16
#: Element types Q/DQ may take as input: FP32, and FP16 in the FP16-typed export (the scale then is FP16 too).
FLOAT_TYPES = (_FLOAT, _FLOAT16)
#: QuantizeLinear/DequantizeLinear take FP16 inputs and scales from this opset on (opset 13 only FP32).
FP16_QDQ_OPSET = 19


@dataclass
class QuantPlan:
    """Where Q/DQ goes in one graph.

    Attributes:
        activations: tensor names that get one per-tensor Q/DQ pair (calibration measures these).
        consumers: tensor name → [(node name, input index)] rewired to the dequantized tensor.
        weights: initializer name → channel axis of its per-channel scales.
        weight_consumers: initializer name → [(node name, input index)] rewired to the dequantized weight.
        nodes: names of the quantized linear nodes.
        residual_adds: names of the Adds whose shortcut operand is quantized.
        skipped: names of linear nodes / Adds kept in float by the skip list.
        cache_tensors: tensors whose scale the legacy TensorRT calibration cache carries: the quantized
            activations plus the outputs of quantized nodes and of the ReLU/MaxPool right after them.
    """

    activations: list[str] = field(default_factory=list)
    consumers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)
    weight_consumers: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    residual_adds: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cache_tensors: list[str] = field(default_factory=list)


def name_nodes(model) -> None:
    """Give every unnamed node a unique name (``<op>_<index>``) in place; the plan refers to nodes by name."""
    seen = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in seen:
                name += "_"
            node.name = name
            seen.add(name)


def matches(patterns: Sequence[str], *names: str) -> bool:
    """Whether any glob in ``patterns`` matches any of ``names`` (case-sensitive)."""
    return any(fnmatch.fnmatchcase(n, p) for p in patterns for n in names if n)


def tensor_types(model) -> dict[str, int] | None:
    """Tensor name → ONNX element type (graph I/O and value_info after shape inference); None if unknown."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 — shape inference is a hint only
        return None
    return {vi.name: vi.type.tensor_type.elem_type
            for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)
            if vi.type.HasField("tensor_type")}


def _float_tensors(model) -> set[str] | None:
    """Names of tensors known to be FP32 or FP16; None if unknown."""
    types = tensor_types(model)
    return None if types is None else {t for t, elem in types.items() if elem in FLOAT_TYPES}


def _weight_axis(node, weight) -> int | None:
    """Channel axis of a linear node's weight initializer (see the module doc), None if unsupported."""
    dims = list(weight.dims)
    if node.op_type == "Conv":
        return 0
    if node.op_type == "ConvTranspose":
        return 0  # replaced by convtranspose_axis at insertion
    if len(dims) != 2:
        return None
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "Gemm":
        if "transA" in attrs and attrs["transA"].i:
            return None
        return 0 if ("transB" in attrs and attrs["transB"].i) else 1
    return 1  # MatMul: [K, N]


def plan_quantization(
    model,
    skip: Sequence[str] = DEFAULT_SKIP,
    *,
    only: Sequence[str] | None = None,
    residual_adds: bool = True,
) -> QuantPlan:
    """Decide which tensors and weights of ``model`` (an ``onnx.ModelProto``; nodes named) get Q/DQ.

    Args:
        skip: globs on node / weight names kept in float.
        only: if given, quantize only nodes whose name matches one of these globs (sensitivity study);
            ``skip`` still applies.
        residual_adds: also quantize the shortcut operand of residual Adds.
    """
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    const_outputs = {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    producer = {o: n for n in graph.node for o in n.output}
    floats = _float_tensors(model)

    def is_float_activation(t: str) -> bool:
        if not t or t in inits or t in const_outputs:
            return False
        return floats is None or t in floats

    def selected(node, *extra: str) -> bool:
        if only is not None and not matches(only, node.name, *extra):
            return False
        if matches(skip, node.name, *extra):
            plan.skipped.append(node.name)
            return False
        return True

    plan = QuantPlan()

    def add_activation(t: str, node, index: int) -> None:
        if t not in plan.consumers:
            plan.activations.append(t)
            plan.consumers[t] = []
        plan.consumers[t].append((node.name, index))

    for node in graph.node:
        if node.op_type in LINEAR_OPS:
            if len(node.input) < 2:
                continue
            x, w = node.input[0], node.input[1]
            weight = inits.get(w)
            if weight is None or not is_float_activation(x) or weight.data_type not in FLOAT_TYPES:
                if node.op_type != "MatMul":
                    logger.debug("qdq: %s %s has no float initializer weight; left in float", node.op_type, node.name)
                continue
            axis = _weight_axis(node, weight)
            if axis is None or not selected(node, w):
                continue
            plan.nodes.append(node.name)
            add_activation(x, node, 0)
            if w not in plan.weights:
                plan.weights[w] = axis
                plan.weight_consumers[w] = []
            plan.weight_consumers[w].append((node.name, 1))
        elif node.op_type == "Add" and residual_adds and len(node.input) == 2:
            a, b = node.input
            if not (is_float_activation(a) and is_float_activation(b)):
                continue
            conv = [t in producer and producer[t].op_type in ("Conv", "ConvTranspose") for t in (a, b)]
            if not any(conv):
                continue  # not a residual sum (e.g. box decoding arithmetic)
            index = 1 if conv[0] else 0
            if not selected(node):
                continue
            plan.residual_adds.append(node.name)
            add_activation(node.input[index], node, index)
    plan.cache_tensors = _cache_tensors(model, plan)
    return plan


def _cache_tensors(model, plan: QuantPlan) -> list[str]:
    """Quantized activations + outputs of quantized nodes, followed through ReLU / MaxPool."""
    names = list(plan.activations)
    seen = set(names)
    quantized = set(plan.nodes) | set(plan.residual_adds)
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    for n in model.graph.node:
        if n.name not in quantized:
            continue
        frontier = list(n.output[:1])
        while frontier:
            t = frontier.pop()
            if t not in seen:
                seen.add(t)
                names.append(t)
            for c in consumers.get(t, []):
                if c.op_type in ("Relu", "MaxPool") and c.output[0] not in seen:
                    frontier.append(c.output[0])
    return names


def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_.]", "_", name).strip("_") or "t"


def activation_scale(amax: float) -> np.float32:
    """Per-tensor scale ``amax / 127``; a dead tensor (amax 0) gets 1/127 so that the scale stays positive."""
    amax = float(amax)
    if not np.isfinite(amax) or amax <= 0:
        amax = 1.0
    return np.float32(amax / QMAX)


def weight_scales(w: np.ndarray, axis: int) -> np.ndarray:
    """Per-channel scales ``max|w| / 127`` along ``axis`` (float32 [w.shape[axis]]); all-zero channels get 1/127."""
    axes = tuple(i for i in range(w.ndim) if i != axis)
    amax = np.abs(w.astype(np.float64)).max(axis=axes) if axes else np.abs(w.astype(np.float64))
    return np.where(amax > 0, amax, 1.0).astype(np.float32) / np.float32(QMAX)


def _as_scale(scale: np.ndarray, dtype: type) -> np.ndarray:
    """``scale`` in ``dtype``, never 0: below float16's smallest normal a scale would round to 0 (an invalid
    Q/DQ), so tiny channels get that smallest normal instead (their values quantize to 0 either way)."""
    return np.maximum(scale, np.finfo(dtype).tiny).astype(dtype)


def quantize_weight(w: np.ndarray, axis: int, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights rounded half-to-even in [-127, 127], scales) for per-channel INT8 along ``axis``.

    ``dtype`` is the scale's type (the weight's: float16 in the FP16-typed export); the weights are rounded
    with the scale as stored, so dequantization gives back exactly ``q · scale``.
    """
    scale = _as_scale(weight_scales(w, axis), dtype)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w.astype(np.float32) / scale.astype(np.float32).reshape(shape)), -QMAX, QMAX).astype(np.int8)
    return q, scale


def insert_qdq(
    model,
    plan: QuantPlan,
    amax: Mapping[str, float],
    *,
    convtranspose_axis: int = 0,
    prequantize_weights: bool = True,
):
    """A copy of ``model`` with the Q/DQ pairs of ``plan``.

    Args:
        model: the float ``onnx.ModelProto`` the plan was made for (nodes named).
        amax: clipping threshold of every tensor in ``plan.activations``.
        convtranspose_axis: channel axis of ConvTranspose weight scales (0 = TensorRT, see module doc).
        prequantize_weights: store weights as int8 + DequantizeLinear (else float → Q → DQ).

    Raises:
        TrtPanopticError: an activation of the plan has no amax, or the model's opset is below 13.
    """
    import onnx
    from onnx import helper, numpy_helper

    missing = [t for t in plan.activations if t not in amax]
    if missing:
        raise TrtPanopticError(
            f"calibration should give a range for every quantized tensor, got none for {missing[0]!r} "
            f"({len(missing)} missing) — recalibrate with this ONNX"
        )
    out = onnx.ModelProto()
    out.CopyFrom(model)
    opset = next((o.version for o in out.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise TrtPanopticError(f"ONNX opset should be ≥ 13 for per-channel Q/DQ, got {opset} — re-export with opset 17")
    graph = out.graph
    inits = {i.name: i for i in graph.initializer}
    types = tensor_types(model) or {}
    # Q/DQ on an FP16 tensor stays FP16 (its scale is FP16): unquantized layers keep running in FP16 and no
    # Cast pair surrounds each Q/DQ (FP16 Q/DQ exist from opset 19 on)
    half = {t for t in plan.activations if types.get(t) == _FLOAT16}
    half |= {w for w in plan.weights if inits[w].data_type == _FLOAT16}
    if half and opset < FP16_QDQ_OPSET:
        raise TrtPanopticError(f"ONNX opset should be ≥ {FP16_QDQ_OPSET} for Q/DQ on the FP16-typed export, got {opset} "
                               f"— re-export with --fp16 --opset {FP16_QDQ_OPSET}")
    by_name = {n.name: n for n in graph.node}
    new_inits = []
    head_nodes = []  # weight Q/DQ: inputs are initializers, so they may come first
    pending: dict[str, list] = {}  # consumer node name → Q/DQ nodes to emit just before it

    # ---- weights
    for w, axis in plan.weights.items():
        consumers = plan.weight_consumers[w]
        if any(by_name[c].op_type == "ConvTranspose" for c, _ in consumers):
            axis = convtranspose_axis
        wf = numpy_helper.to_array(inits[w]).astype(np.float32)
        q, scale = quantize_weight(wf, axis, np.float16 if w in half else np.float32)
        base = _safe(w)
        s_name, z_name, dq_out = f"{base}_scale", f"{base}_zero_point", f"{base}_dequantized"
        new_inits += [numpy_helper.from_array(scale, s_name),
                      numpy_helper.from_array(np.zeros(scale.shape, np.int8), z_name)]
        if prequantize_weights:
            new_inits.append(numpy_helper.from_array(q, f"{base}_int8"))
            head_nodes.append(helper.make_node("DequantizeLinear", [f"{base}_int8", s_name, z_name], [dq_out],
                                               name=f"{base}_DequantizeLinear", axis=axis))
        else:
            head_nodes += [
                helper.make_node("QuantizeLinear", [w, s_name, z_name], [f"{base}_quantized"],
                                 name=f"{base}_QuantizeLinear", axis=axis),
                helper.make_node("DequantizeLinear", [f"{base}_quantized", s_name, z_name], [dq_out],
                                 name=f"{base}_DequantizeLinear", axis=axis),
            ]
        for c, idx in consumers:
            by_name[c].input[idx] = dq_out

    # ---- activations
    order = {n.name: i for i, n in enumerate(graph.node)}
    for t in plan.activations:
        base = _safe(t)
        s_name, z_name = f"{base}_scale", f"{base}_zero_point"
        scale = _as_scale(np.array(activation_scale(amax[t])), np.float16 if t in half else np.float32)
        new_inits += [numpy_helper.from_array(scale, s_name),
                      numpy_helper.from_array(np.array(0, np.int8), z_name)]
        q_out, dq_out = f"{base}_quantized", f"{base}_dequantized"
        pair = [helper.make_node("QuantizeLinear", [t, s_name, z_name], [q_out], name=f"{base}_QuantizeLinear"),
                helper.make_node("DequantizeLinear", [q_out, s_name, z_name], [dq_out], name=f"{base}_DequantizeLinear")]
        consumers = plan.consumers[t]
        first = min(consumers, key=lambda c: order[c[0]])[0]
        pending.setdefault(first, []).extend(pair)
        for c, idx in consumers:
            by_name[c].input[idx] = dq_out

    nodes = list(head_nodes)
    for n in graph.node:
        nodes.extend(pending.get(n.name, []))
        nodes.append(n)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_inits)
    if prequantize_weights:  # float weights no longer read by anyone are dropped
        used = {t for n in graph.node for t in n.input} | {o.name for o in graph.output}
        keep = [i for i in graph.initializer if i.name in used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return out


def quantize_model(model, amax: Mapping[str, float], plan: QuantPlan | None = None, *,
                   skip: Sequence[str] = DEFAULT_SKIP, **kwargs):
    """Plan (unless given) and insert Q/DQ; returns the new ``onnx.ModelProto``. ``kwargs`` go to :func:`insert_qdq`."""
    name_nodes(model)
    plan = plan or plan_quantization(model, skip)
    return insert_qdq(model, plan, amax, **kwargs)
