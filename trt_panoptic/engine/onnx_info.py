"""What the engine builder needs to know about an ONNX file, read with ``onnx`` (no TensorRT).

Inputs and their shapes (dynamic dimensions as -1), whether the graph is Q/DQ-quantized, whether it is
FP16-typed, and which plugin ops it holds — enough to choose an optimization profile and to reject an
ONNX that does not fit the build plan (e.g. ``int8`` on a graph without Q/DQ nodes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from trt_panoptic.engine.versions import (
    ONNX_ANY,
    ONNX_FP16_TYPED,
    ONNX_FP32_FOR_CALIB,
    ONNX_QDQ,
    BuildPlan,
)
from trt_panoptic.errors import TrtPanopticError, import_optional

PLUGIN_NAMESPACE = "trt_panoptic"


@dataclass
class OnnxInfo:
    """Summary of an ONNX graph.

    Attributes:
        path: the file.
        inputs: graph input name → shape; a dynamic dimension is -1.
        input_dtypes: graph input name → ONNX element type name (``UINT8``, ``FLOAT`` …).
        num_qdq: number of QuantizeLinear + DequantizeLinear nodes.
        num_fp16: number of FLOAT16 initializers, Cast-to-FLOAT16 nodes and FLOAT16 value infos.
        plugin_ops: op types of nodes that carry ``plugin_namespace`` (our TensorRT plugins).
    """

    path: Path
    inputs: dict[str, tuple[int, ...]]
    input_dtypes: dict[str, str] = field(default_factory=dict)
    num_qdq: int = 0
    num_fp16: int = 0
    plugin_ops: list[str] = field(default_factory=list)

    @property
    def dynamic_inputs(self) -> list[str]:
        return [name for name, shape in self.inputs.items() if any(d < 0 for d in shape)]


def inspect_onnx(path: str | os.PathLike) -> OnnxInfo:
    """Read ``path`` (graph only; external weights are not loaded) into an :class:`OnnxInfo`."""
    onnx = import_optional("onnx", "pip install onnx")
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"ONNX file should exist, got {str(path)!r} — export one with trt-panoptic export")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for corrupt files
        raise TrtPanopticError(
            f"ONNX file should be a valid model, got {str(path)!r} ({type(exc).__name__}) — re-export it"
        ) from None
    graph = model.graph
    if not graph.node:
        raise TrtPanopticError(f"ONNX file should hold a graph, got an empty one in {str(path)!r} — re-export it")
    initializers = {t.name for t in graph.initializer}
    fp16 = onnx.TensorProto.FLOAT16
    inputs: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for value in graph.input:
        if value.name in initializers:  # old exporters list weights as inputs
            continue
        ttype = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in ttype.shape.dim)
        inputs[value.name] = dims
        dtypes[value.name] = onnx.TensorProto.DataType.Name(ttype.elem_type)
    num_qdq = sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.node)
    num_fp16 = sum(t.data_type == fp16 for t in graph.initializer)
    num_fp16 += sum(v.type.tensor_type.elem_type == fp16 for v in graph.value_info)
    for node in graph.node:
        if node.op_type == "Cast":
            num_fp16 += any(a.name == "to" and a.i == fp16 for a in node.attribute)
    plugin_ops = sorted(
        {n.op_type for n in graph.node if any(a.name == "plugin_namespace" for a in n.attribute)}
    )
    return OnnxInfo(path, inputs, dtypes, num_qdq, num_fp16, plugin_ops)


def check_onnx_for_plan(info: OnnxInfo, plan: BuildPlan) -> list[str]:
    """Raise when ``info`` cannot give ``plan``'s precision; return warnings (for the log) otherwise."""
    name = info.path.name
    warnings: list[str] = []
    req = plan.onnx_requirement
    if req == ONNX_QDQ and info.num_qdq == 0:
        raise TrtPanopticError(
            f"int8 on TensorRT {plan.version} should be built from a Q/DQ ONNX, got {name} without "
            "QuantizeLinear/DequantizeLinear nodes — run trt-panoptic calibrate --onnx "
            f"{name} ... --out model.int8.onnx and build that"
        )
    if req == ONNX_FP16_TYPED and info.num_fp16 == 0:
        raise TrtPanopticError(
            f"fp16 on TensorRT {plan.version} (strongly typed) should be built from the FP16-typed ONNX, got "
            f"{name} with no FLOAT16 tensors — export it with trt-panoptic export --flavor tensorrt --fp16"
        )
    if req == ONNX_FP32_FOR_CALIB and info.num_qdq:
        raise TrtPanopticError(
            f"a calibration cache should go with a plain ONNX, got {name} with {info.num_qdq} Q/DQ nodes — "
            "drop --calib-cache (the Q/DQ nodes already carry the scales)"
        )
    if req == ONNX_ANY and plan.precision == "fp32" and info.num_qdq:
        raise TrtPanopticError(
            f"precision fp32 should be built from a float ONNX, got {name} with Q/DQ nodes — use --precision int8"
        )
    if req == ONNX_ANY and plan.precision == "fp32" and info.num_fp16:
        warnings.append(
            f"{name} is FP16-typed: a {plan.version} build keeps those tensors in FP16 although --precision fp32"
        )
    return warnings


Shape = tuple[int, ...]


def parse_shape_arg(text: str) -> tuple[str, Shape]:
    """``"image:1x3x512x512"`` → ``("image", (1, 3, 512, 512))`` (the trtexec ``--optShapes`` syntax)."""
    name, sep, dims = text.rpartition(":")
    try:
        shape = tuple(int(d) for d in dims.lower().split("x"))
    except ValueError:
        shape = ()
    if not sep or not name or not shape or any(d <= 0 for d in shape):
        raise TrtPanopticError(f"--shape should be NAME:DxDxD (e.g. image:1x512x512x3), got {text!r} — fix it")
    return name, shape


def optimization_profile(
    info: OnnxInfo, shapes: dict[str, Shape] | None = None, max_batch: int = 1
) -> dict[str, tuple[Shape, Shape, Shape]]:
    """The (min, opt, max) shape of every dynamic input; empty when all inputs are static.

    A dynamic batch dimension alone gets min 1, opt 1 (real time is batch 1), max ``max_batch``; any other
    dynamic dimension needs its shape in ``shapes`` (then min = opt = max = that shape).
    """
    shapes = dict(shapes or {})
    unknown = sorted(set(shapes) - set(info.inputs))
    if unknown:
        raise TrtPanopticError(
            f"--shape should name an input of {info.path.name} ({', '.join(info.inputs)}), got {unknown[0]!r} — fix the name"
        )
    if max_batch < 1:
        raise TrtPanopticError(f"--max-batch should be ≥ 1, got {max_batch} — pass a positive batch size")
    profile: dict[str, tuple[Shape, Shape, Shape]] = {}
    for name, dims in info.inputs.items():
        given = shapes.get(name)
        if given is not None:
            fits = len(given) == len(dims) and all(d < 0 or d == g for d, g in zip(dims, given))
            if not fits:
                raise TrtPanopticError(
                    f"--shape for {name} should fit its ONNX shape {_fmt(dims)}, got {_fmt(given)} — fix the shape"
                )
            if any(d < 0 for d in dims):
                profile[name] = (given, given, given)
            continue
        if all(d >= 0 for d in dims):
            continue
        if dims[0] < 0 and all(d >= 0 for d in dims[1:]):
            profile[name] = ((1, *dims[1:]), (1, *dims[1:]), (max_batch, *dims[1:]))
            continue
        raise TrtPanopticError(
            f"input {name} should have static dimensions besides the batch, got {_fmt(dims)} — pass "
            f"--shape {name}:{'x'.join(str(d if d > 0 else 1) for d in dims)} with the real sizes"
        )
    return profile


def _fmt(shape: Shape) -> str:
    return "x".join("?" if d < 0 else str(d) for d in shape)
