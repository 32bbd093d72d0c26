"""``inspect_onnx``: what an ONNX holds and what TensorRT will make of it, without TensorRT.

Reports inputs/outputs (name, type, shape), the op histogram, plugin nodes with their attributes and the
trt_panoptic metadata, and warns about constructs TensorRT rejects or handles badly: ops outside its ONNX
parser's support list, unknown plugins, plugin nodes missing ``plugin_version``/``plugin_namespace``,
INT64 tensors computed on the hot path, dynamic input dimensions (need an optimization profile) and
data-dependent shapes.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import onnx

from trt_panoptic.export.contract import META_PREFIX, PLUGIN_FIELDS

#: Ops of the default ONNX domain that TensorRT 10's ONNX parser imports (onnx-tensorrt docs/operators.md).
TENSORRT_ONNX_OPS = frozenset("""
Abs Acos Acosh Add AffineGrid And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Bernoulli
BitShift BitwiseAnd BitwiseNot BitwiseOr BitwiseXor BlackmanWindow Cast CastLike Ceil Celu Clip Compress Concat
ConcatFromSequence Constant ConstantOfShape Conv ConvInteger ConvTranspose Cos Cosh CumSum DFT DeformConv
DepthToSpace DequantizeLinear Det Div Dropout DynamicQuantizeLinear Einsum Elu Equal Erf Exp Expand EyeLike
Flatten Floor Gather GatherElements GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater
GreaterOrEqual GridSample GroupNormalization GRU HammingWindow HannWindow HardSigmoid HardSwish Hardmax Identity
If ImageScaler InstanceNormalization IsInf IsNaN LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop
LpNormalization LpPool LRN LSTM MatMul MatMulInteger Max MaxPool MaxRoiPool MaxUnpool Mean MeanVarianceNormalization
Min Mish Mod Mul Multinomial Neg NonMaxSuppression NonZero Not OneHot Optional OptionalGetElement OptionalHasElement
Or Pad ParametricSoftplus Pow PRelu QLinearConv QLinearMatMul QuantizeLinear RandomNormal RandomNormalLike
RandomUniform RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax
ReduceMean ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RNN RoiAlign Round
STFT ScaledTanh Scan Scatter ScatterElements ScatterND Selu SequenceAt SequenceConstruct SequenceEmpty SequenceErase
SequenceInsert SequenceLength Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax SoftmaxCrossEntropyLoss Softplus
Softsign SpaceToDepth Split SplitToSequence Sqrt Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu
Unique Unsqueeze Upsample Where Xor
""".split())
#: Ops whose output shape depends on data (TensorRT supports them, with data-dependent allocation).
DATA_DEPENDENT_OPS = frozenset({"NonZero", "NonMaxSuppression", "Unique", "Compress"})
#: INT64 produced here is expected (ONNX fixes these index types); anything else computing INT64 is flagged.
INDEX_OPS = frozenset({"TopK", "NonMaxSuppression", "ArgMax", "ArgMin", "NonZero", "Shape", "Size", "Constant",
                       "ConstantOfShape", "Range"})
_TYPE_NAMES = {v: k.lower() for k, v in onnx.TensorProto.DataType.items()}
#: nodes that move, cast or reshape data: not counted as FP32 compute
_NOT_COMPUTE = frozenset({"Cast", "Constant", "Identity", "Reshape", "Squeeze", "Unsqueeze", "Concat", "Gather",
                          "Slice", "Shape", "Expand", "Transpose", "Flatten", "Split", "Where", "ConstantOfShape"})


def _shape(vi: onnx.ValueInfoProto) -> list:
    dims = vi.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]


def _attr(a: onnx.AttributeProto):
    v = onnx.helper.get_attribute_value(a)
    return v.decode() if isinstance(v, bytes) else v


@dataclass
class InspectReport:
    """Everything :func:`inspect_onnx` found; ``warnings`` are one line each."""

    inputs: list[dict]
    outputs: list[dict]
    ops: dict[str, int]
    plugins: list[dict]
    metadata: dict[str, str]
    opsets: dict[str, int]
    warnings: list[str] = field(default_factory=list)
    #: in an FP16-typed graph, op type → count of the compute nodes that run in FP32 (box math, NMS,
    #: normalization …): under strong typing, the layers TensorRT keeps in FP32
    fp32_islands: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def inspect_onnx(model: onnx.ModelProto) -> InspectReport:
    """Inspect a loaded ONNX model (see the module docstring)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    io = lambda vis: [{"name": v.name, "type": _TYPE_NAMES.get(v.type.tensor_type.elem_type, "?"), "shape": _shape(v)} for v in vis]  # noqa: E731
    inits = {i.name for i in g.initializer}
    inputs = io([v for v in g.input if v.name not in inits])
    report = InspectReport(
        inputs=inputs, outputs=io(g.output), ops=dict(Counter(n.op_type for n in g.node).most_common()),
        plugins=[], metadata={p.key: p.value for p in model.metadata_props if p.key != META_PREFIX + "config"},
        opsets={o.domain or "ai.onnx": o.version for o in model.opset_import},
    )
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.input, *g.output]}
    if any(t == onnx.TensorProto.FLOAT16 for t in types.values()):
        report.fp32_islands = dict(Counter(
            n.op_type for n in g.node if n.output and types.get(n.output[0]) == onnx.TensorProto.FLOAT
            and n.op_type not in _NOT_COMPUTE).most_common())
    unsupported, int64_ops, data_dep = Counter(), Counter(), Counter()
    for node in g.node:
        attrs = {a.name: _attr(a) for a in node.attribute}
        is_plugin = node.domain not in ("", "ai.onnx") or "plugin_namespace" in attrs
        if is_plugin:
            report.plugins.append({"name": node.name, "op_type": node.op_type, "domain": node.domain, "attributes": attrs})
            if node.op_type not in PLUGIN_FIELDS:
                report.warnings.append(f"unknown plugin {node.op_type} (node {node.name or '?'}): TensorRT needs a plugin library that registers it")
            else:
                missing = [k for k in ("plugin_version", "plugin_namespace", *PLUGIN_FIELDS[node.op_type]) if k not in attrs]
                if missing:
                    report.warnings.append(f"plugin node {node.name or node.op_type} lacks attributes {', '.join(missing)}")
            continue
        if node.op_type not in TENSORRT_ONNX_OPS:
            unsupported[node.op_type] += 1
        if node.op_type in DATA_DEPENDENT_OPS:
            data_dep[node.op_type] += 1
        if node.op_type not in INDEX_OPS and any(types.get(o) == onnx.TensorProto.INT64 for o in node.output):
            int64_ops[node.op_type] += 1
    for op, n in unsupported.items():
        report.warnings.append(f"{op} ×{n} is not in TensorRT's ONNX op list: the parser will reject it unless a plugin named {op} is loaded")
    if int64_ops:
        ops = ", ".join(f"{k} ×{v}" for k, v in int64_ops.most_common())
        report.warnings.append(f"INT64 tensors computed on the hot path ({ops}): TensorRT runs them in INT64/INT32 with casts; keep index math small")
    for v in inputs:
        if any(not isinstance(d, int) or d <= 0 for d in v["shape"]):
            report.warnings.append(f"input {v['name']} has non-constant dims {v['shape']}: the TensorRT build needs an optimization profile (min/opt/max)")
    if data_dep:
        ops = ", ".join(f"{k} ×{v}" for k, v in data_dep.items())
        report.warnings.append(f"data-dependent output shapes ({ops}): supported by TensorRT 8.5+, but outputs are sized at run time")
    return report


def format_report(report: InspectReport, source: str = "model") -> str:
    """Human-readable text of a report (what ``trt-panoptic inspect`` prints)."""
    lines = [f"{source}", "  opsets: " + ", ".join(f"{k} {v}" for k, v in report.opsets.items())]
    for k, v in report.metadata.items():
        lines.append(f"  {k}: {v}")
    lines.append("inputs:")
    lines += [f"  {v['name']}: {v['type']} {v['shape']}" for v in report.inputs]
    lines.append("outputs:")
    lines += [f"  {v['name']}: {v['type']} {v['shape']}" for v in report.outputs]
    lines.append(f"ops ({sum(report.ops.values())} nodes):")
    lines += [f"  {op:<24} {n}" for op, n in report.ops.items()]
    lines.append(f"plugin nodes ({len(report.plugins)}):")
    for p in report.plugins:
        attrs = ", ".join(f"{k}={v}" for k, v in p["attributes"].items())
        lines.append(f"  {p['op_type']} [{p['name']}] domain={p['domain'] or '-'}: {attrs}")
    if report.fp32_islands:
        lines.append("FP32 islands in the FP16 graph: " + ", ".join(f"{op} ×{n}" for op, n in report.fp32_islands.items()))
    lines.append(f"warnings ({len(report.warnings)}):")
    lines += [f"  ! {w}" for w in report.warnings] or ["  none"]
    return "\n".join(lines)
