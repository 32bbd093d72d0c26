"""An ONNX against a build plan, without TensorRT: reject one that does not fit the plan (e.g. ``int8`` on a
graph without Q/DQ nodes) and choose the optimization profile of its dynamic inputs.

What the ONNX is (inputs, Q/DQ and FP16 counts, plugin ops) is read by the ONNX contract's
:func:`~trt_panoptic.export.contract.onnx_info`.
"""
from __future__ import annotations

from trt_panoptic.engine.versions import (
    ONNX_ANY,
    ONNX_FP16_TYPED,
    ONNX_FP32_FOR_CALIB,
    ONNX_QDQ,
    BuildPlan,
)
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.contract import OnnxInfo

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

    A dynamic batch dimension alone gets min 1, opt = max = ``max_batch`` (the batch a multi-stream pipeline
    runs at: one frame per stream, so TensorRT tunes its kernels for the full batch); any other dynamic
    dimension needs its shape in ``shapes`` (then min = opt = max = that shape).
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
            profile[name] = ((1, *dims[1:]), (max_batch, *dims[1:]), (max_batch, *dims[1:]))
            continue
        raise TrtPanopticError(
            f"input {name} should have static dimensions besides the batch, got {_fmt(dims)} — pass "
            f"--shape {name}:{'x'.join(str(d if d > 0 else 1) for d in dims)} with the real sizes"
        )
    return profile


def _fmt(shape: Shape) -> str:
    return "x".join("?" if d < 0 else str(d) for d in shape)
