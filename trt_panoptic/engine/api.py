"""Every TensorRT Python name the engine layer uses, in one table, and the by-name lookup.

The builder and the runner reach enum members and module-level names only through :func:`lookup`, which
refuses a name missing from :data:`TRT_API` (so the table cannot fall behind the code), and the tests
check the table against NVIDIA's real bindings of 10.3 and 11.4 (``../shared/tools/trt-api-stub``):
each entry exists there with a compatible pybind11 signature, and no entry for a major is among the
names to avoid on it (:data:`AVOID`). :func:`check_bindings` is that check; it needs the ``tensorrt``
module only as an argument. A fake-``tensorrt`` test records every attribute the builder and runner
touch and asserts each is in the table.

This proves names and signatures, not behaviour: nothing here has run on real TensorRT.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from trt_panoptic.errors import TrtPanopticError

BOTH = frozenset({10, 11})
ONLY_10 = frozenset({10})
ONLY_11 = frozenset({11})


@dataclass(frozen=True)
class TrtName:
    """One name from the ``tensorrt`` module.

    Attributes:
        path: dotted path below ``tensorrt``: ``"BuilderFlag.FP16"``, ``"Builder.create_network"``.
        kind: ``enum`` (a member), ``class``, ``method``, ``property``, ``function``, ``attribute``.
        params: for methods/functions, the parameter names the code passes, in order (without ``self``);
            the real signature must start with them and give defaults to the rest.
        majors: the TensorRT majors on which the code uses the name.
    """

    path: str
    kind: str
    params: tuple[str, ...] = ()
    majors: frozenset[int] = BOTH


def _m(path: str, *params: str, majors: frozenset[int] = BOTH) -> TrtName:
    return TrtName(path, "method", tuple(params), majors)


def _e(path: str, majors: frozenset[int] = BOTH) -> TrtName:
    return TrtName(path, "enum", (), majors)


def _c(path: str, majors: frozenset[int] = BOTH) -> TrtName:
    return TrtName(path, "class", (), majors)


def _p(path: str, majors: frozenset[int] = BOTH) -> TrtName:
    return TrtName(path, "property", (), majors)


TRT_API: tuple[TrtName, ...] = (
    TrtName("__version__", "attribute"),
    # logging
    _c("Logger"),
    _m("Logger.__init__", "min_severity"),
    _e("Logger.Severity.ERROR"),
    _e("Logger.Severity.WARNING"),
    _e("Logger.Severity.INFO"),
    _e("Logger.Severity.VERBOSE"),
    # the builder's own logger (keeps TensorRT's errors to explain a failed build)
    _c("ILogger"),
    _m("ILogger.__init__"),
    _m("ILogger.log", "severity", "msg"),
    # plugins
    TrtName("get_plugin_registry", "function"),
    TrtName("init_libnvinfer_plugins", "function", ("logger", "namespace")),
    _m("IPluginRegistry.load_library", "plugin_path"),
    _m("IPluginRegistry.get_creator", "type", "version", "plugin_namespace"),
    # builder
    _c("Builder"),
    _m("Builder.__init__", "logger"),
    _m("Builder.create_network", "flags"),
    _m("Builder.create_builder_config"),
    _m("Builder.create_optimization_profile"),
    _m("Builder.build_serialized_network", "network", "config"),
    # kSTRONGLY_TYPED = 1 in v10.3.0's NvInfer.h: 10.x has it too (FP16-typed ONNX)
    _e("NetworkDefinitionCreationFlag.STRONGLY_TYPED"),
    _e("BuilderFlag.FP16", ONLY_10),
    _e("BuilderFlag.INT8", ONLY_10),
    # precision constraints: 10.x reduced precision from an FP32 ONNX pins the export's FP32 islands
    _e("BuilderFlag.OBEY_PRECISION_CONSTRAINTS", ONLY_10),
    _p("INetworkDefinition.num_layers", ONLY_10),
    _m("INetworkDefinition.get_layer", "index", majors=ONLY_10),
    _p("ILayer.name", ONLY_10),
    _p("ILayer.precision", ONLY_10),
    _p("ILayer.num_outputs", ONLY_10),
    _m("ILayer.get_output", "index", majors=ONLY_10),
    _m("ILayer.set_output_type", "index", "dtype", majors=ONLY_10),
    _p("ITensor.dtype", ONLY_10),
    TrtName("float32", "attribute", majors=ONLY_10),
    TrtName("float16", "attribute", majors=ONLY_10),
    _e("MemoryPoolType.WORKSPACE"),
    _m("IBuilderConfig.set_flag", "flag"),
    _m("IBuilderConfig.set_memory_pool_limit", "pool", "pool_size"),
    _p("IBuilderConfig.builder_optimization_level"),
    _m("IBuilderConfig.create_timing_cache", "serialized_timing_cache"),
    _m("IBuilderConfig.set_timing_cache", "cache", "ignore_mismatch"),
    _m("IBuilderConfig.get_timing_cache"),
    _m("IBuilderConfig.add_optimization_profile", "profile"),
    _p("IBuilderConfig.int8_calibrator", ONLY_10),
    _c("IInt8EntropyCalibrator2", ONLY_10),
    _m("IInt8EntropyCalibrator2.get_batch_size", majors=ONLY_10),
    _m("IInt8EntropyCalibrator2.get_batch", "names", majors=ONLY_10),
    _m("IInt8EntropyCalibrator2.read_calibration_cache", majors=ONLY_10),
    _m("IInt8EntropyCalibrator2.write_calibration_cache", "cache", majors=ONLY_10),
    _m("ITimingCache.serialize"),
    _p("INetworkDefinition.num_inputs"),
    _m("INetworkDefinition.get_input", "index"),
    _p("ITensor.name"),
    _p("ITensor.shape"),
    _m("IOptimizationProfile.set_shape", "input", "min", "opt", "max"),
    # ONNX parser
    _c("OnnxParser"),
    _m("OnnxParser.__init__", "network", "logger"),
    _m("OnnxParser.parse_from_file", "model"),
    _p("OnnxParser.num_errors"),
    _m("OnnxParser.get_error", "index"),
    _m("ParserError.desc"),
    _m("ParserError.node_name"),
    _m("ParserError.node_operator"),
    _m("ParserError.node"),
    _m("ParserError.code"),
    # runtime
    _c("Runtime"),
    _m("Runtime.__init__", "logger"),
    _m("Runtime.deserialize_cuda_engine", "serialized_engine"),
    _p("ICudaEngine.num_io_tensors"),
    _m("ICudaEngine.get_tensor_name", "index"),
    _m("ICudaEngine.get_tensor_mode", "name"),
    _m("ICudaEngine.get_tensor_dtype", "name"),
    _m("ICudaEngine.get_tensor_shape", "name"),
    _m("ICudaEngine.create_execution_context"),
    _e("TensorIOMode.INPUT"),
    _e("TensorIOMode.OUTPUT"),
    TrtName("nptype", "function", ("trt_type",)),
    _m("IExecutionContext.set_input_shape", "name", "shape"),
    _m("IExecutionContext.get_tensor_shape", "name"),
    _m("IExecutionContext.set_tensor_address", "name", "memory"),
    _m("IExecutionContext.execute_async_v3", "stream_handle"),
)

# Names the code must not use on a major: removed there (11.x) or deprecated legacy spellings (10.x).
AVOID: dict[int, tuple[str, ...]] = {
    10: (
        "NetworkDefinitionCreationFlag.EXPLICIT_BATCH",  # deprecated no-op in 10.x, gone in 11.x
        "IExecutionContext.execute_async_v2",  # binding-index API, removed in 10.0
        "ICudaEngine.get_binding_index",
        "Builder.build_engine",
    ),
    11: (
        "BuilderFlag.FP16",
        "BuilderFlag.INT8",
        "BuilderFlag.OBEY_PRECISION_CONSTRAINTS",
        "NetworkDefinitionCreationFlag.EXPLICIT_BATCH",
        "IInt8EntropyCalibrator2",
        "IInt8Calibrator",
        "IBuilderConfig.int8_calibrator",
        "Builder.platform_has_fast_fp16",
        "Builder.platform_has_fast_int8",
        "ICudaEngine.device_memory_size",
    ),
}


def names_for(major: int) -> list[TrtName]:
    """The table's entries used on TensorRT ``major``."""
    return [n for n in TRT_API if major in n.majors]


_BY_PATH = {n.path: n for n in TRT_API}


def lookup(trt: Any, path: str, major: int) -> Any:
    """Resolve ``tensorrt.<path>`` by name; the single door through which enum members are reached.

    Args:
        trt: the imported ``tensorrt`` module.
        path: an entry of :data:`TRT_API`, e.g. ``"BuilderFlag.FP16"``.
        major: the running TensorRT major (the entry must be declared for it).

    Raises:
        TrtPanopticError: naming the missing member and the version, when the bindings lack it.
    """
    entry = _BY_PATH.get(path)
    assert entry is not None and major in entry.majors, (
        f"trt_panoptic.engine.api: {path!r} is not declared for TensorRT {major}.x in TRT_API"
    )
    obj: Any = trt
    walked = "tensorrt"
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            version = getattr(trt, "__version__", "?")
            raise TrtPanopticError(
                f"TensorRT {version} should provide {walked}.{part} (needed for {path}), got none — "
                "this TensorRT is not the 10.x/11.x API trt_panoptic supports; install TensorRT 10.x or 11.x"
            ) from None
        walked += f".{part}"
    return obj


# ---------------------------------------------------------------------------------------------------
# Checking the table against real bindings (run in a subprocess with trt-api-stub's tensorrt).

_SIG_RE = re.compile(r"^\s*(?:\d+\.\s*)?(\w+)\((.*)\)\s*->")


def _split_params(text: str) -> list[tuple[str, bool]]:
    """``"self: X, a: int, b: Foo = <Foo.B: 0>"`` → ``[("self", False), ("a", False), ("b", True)]``."""
    params, depth, current = [], 0, ""
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            params.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        params.append(current)
    out = []
    for p in params:
        p = p.strip()
        if p in ("*args", "**kwargs"):
            out.append((p, True))
            continue
        name = p.split(":", 1)[0].split("=", 1)[0].strip()
        out.append((name, "=" in p))
    return out


def pybind_signatures(obj: Any, name: str) -> list[list[tuple[str, bool]]]:
    """Every overload's parameter list ``[(name, has_default)]`` from a pybind11 ``__doc__``."""
    sigs = []
    for line in (getattr(obj, "__doc__", None) or "").splitlines():
        match = _SIG_RE.match(line)
        if match and match.group(1) == name:
            params = _split_params(match.group(2))
            if params != [("*args", True), ("**kwargs", True)]:
                sigs.append(params)
    return sigs


def _python_signature(obj: Any) -> list[list[tuple[str, bool]]]:
    """The signature of a pure-Python function of the bindings (e.g. ``tensorrt.nptype``), as above."""
    import inspect

    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [[(p.name, p.default is not inspect.Parameter.empty) for p in sig.parameters.values()]]


def _signature_compatible(sigs: list[list[tuple[str, bool]]], params: tuple[str, ...], is_method: bool) -> bool:
    for sig in sigs:
        if is_method and sig and sig[0][0] == "self":
            sig = sig[1:]
        names = [n for n, _ in sig]
        if names[: len(params)] == list(params) and all(d for _, d in sig[len(params):]):
            return True
    return False


def check_bindings(trt: ModuleType, major: int) -> list[str]:
    """Problems of the table against the imported bindings ``trt`` for ``major`` (empty list = all good).

    Checks that every entry for ``major`` exists with its kind and a compatible signature, and that no
    entry (nor any plan's enum) for ``major`` is in :data:`AVOID`.
    """
    from trt_panoptic.engine.versions import PRECISIONS, TrtVersion, select_plan

    problems = []
    for entry in names_for(major):
        obj: Any = trt
        parent: Any = None
        try:
            for part in entry.path.split("."):
                parent, obj = obj, getattr(obj, part)
        except AttributeError:
            problems.append(f"missing: tensorrt.{entry.path}")
            continue
        leaf = entry.path.split(".")[-1]
        if entry.kind == "enum":
            members = getattr(parent, "__members__", {})
            if leaf not in members:
                problems.append(f"not an enum member: tensorrt.{entry.path}")
        elif entry.kind == "class":
            if not isinstance(obj, type):
                problems.append(f"not a class: tensorrt.{entry.path}")
        elif entry.kind == "property":
            if not isinstance(parent.__dict__.get(leaf) if isinstance(parent, type) else None, property):
                problems.append(f"not a property: tensorrt.{entry.path}")
        elif entry.kind in ("method", "function"):
            sigs = pybind_signatures(obj, leaf) or _python_signature(obj)
            if not sigs:
                problems.append(f"no pybind11 signature for tensorrt.{entry.path}")
            elif not _signature_compatible(sigs, entry.params, entry.kind == "method"):
                problems.append(f"signature of tensorrt.{entry.path} does not take ({', '.join(entry.params)}): {sigs}")
    avoid = set(AVOID.get(major, ()))
    used = {n.path for n in names_for(major)}
    for precision in PRECISIONS:
        for cache, fp16_typed in ((False, False), (True, False), (False, True)):
            try:
                plan = select_plan(TrtVersion(major), precision, calibration_cache=cache, fp16_typed_onnx=fp16_typed)
            except Exception:  # a combination the version does not offer (e.g. cache on 11.x)
                continue
            used.update(plan.enum_names())
            problems += [f"plan {major}.x/{precision} uses unknown {n}" for n in plan.enum_names() if n not in _BY_PATH]
    problems += [f"uses a name to avoid on {major}.x: {n}" for n in sorted(used & avoid)]
    return problems
