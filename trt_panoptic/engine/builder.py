"""Build a TensorRT engine from an ONNX file: the thin layer that really calls ``tensorrt``.

:func:`prepare_build` does everything that needs no TensorRT (plan, ONNX checks, profile, trtexec
line) and is what ``--dry-run`` prints; :func:`build_engine` then loads the plugin library, parses the
ONNX (every parser error reported with its node), configures the builder from the plan (enum members
by name, through :func:`trt_panoptic.engine.api.lookup`), reuses the timing cache, builds, and writes
the engine and its sidecar atomically.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import onnx

from trt_panoptic.engine.api import lookup
from trt_panoptic.engine.build_log import capturing_logger, default_workspace_mb, explain_build_failure
from trt_panoptic.atomic_io import atomic_write_bytes
from trt_panoptic.engine.files import sha256_file
from trt_panoptic.engine.onnx_info import check_onnx_for_plan, optimization_profile
from trt_panoptic.engine.sidecar import Sidecar, write_sidecar
from trt_panoptic.export.contract import PLUGIN_FIELDS, PLUGIN_NAMESPACE, PLUGIN_VERSION, OnnxInfo, fp32_nodes, onnx_info
from trt_panoptic.engine.trtexec import trtexec_command
from trt_panoptic.engine.versions import BuildPlan, TrtVersion, check_supported, parse_version, select_plan
from trt_panoptic.errors import TrtPanopticError, import_optional

logger = logging.getLogger(__name__)

TENSORRT_INSTALL_HINT = (
    "install TensorRT 10.x/11.x: pip install tensorrt (NVIDIA's wheels; add --extra-index-url "
    "https://pypi.nvidia.com if pip cannot find them), or on Jetson use JetPack's python3-libnvinfer"
)

Shape = tuple[int, ...]


@dataclass
class BuildOptions:
    """What ``trt-panoptic build`` was asked for.

    Attributes:
        onnx: the ONNX file (FP32, FP16-typed or Q/DQ, as the plan requires).
        out: the engine file to write (its sidecar goes to ``<out>.json``).
        precision: ``fp32`` | ``fp16`` | ``int8``.
        plugin: the plugin library (``libtrt_panoptic_plugins.so``) to load into the registry, if any.
        workspace_mb: workspace memory pool limit in MiB (None = half the device memory free at build time).
        timing_cache: timing cache file, read if it exists and written back after the build.
        opt_level: builder optimization level 0–5 (None = TensorRT's default, 3).
        shapes: input name → shape for dynamic inputs other than the batch dimension.
        max_batch: largest batch of a dynamic batch dimension.
        calib_cache: TensorRT calibration cache for the 10.x legacy INT8 path (plain ONNX).
    """

    onnx: Path
    out: Path
    precision: str = "fp16"
    plugin: Path | None = None
    workspace_mb: int | None = None
    timing_cache: Path | None = None
    opt_level: int | None = None
    shapes: dict[str, Shape] = field(default_factory=dict)
    max_batch: int = 1
    calib_cache: Path | None = None


@dataclass
class PreparedBuild:
    """Everything decided before TensorRT is touched."""

    options: BuildOptions
    plan: BuildPlan
    info: OnnxInfo
    profile: dict[str, tuple[Shape, Shape, Shape]]
    trtexec: str
    rebuild: str
    warnings: list[str]
    #: when the plan pins (10.x reduced precision from an FP32 ONNX): the ONNX nodes whose layers go to FP32
    #: (:func:`~trt_panoptic.export.contract.fp32_nodes`), and those nodes' output tensors
    fp32_nodes: list[str] = field(default_factory=list)
    fp32_tensors: list[str] = field(default_factory=list)

    def engine_input_shapes(self) -> dict[str, list[int]]:
        """Input shapes recorded in the sidecar: static shapes, or the max of the profile."""
        return {
            name: list(self.profile[name][2]) if name in self.profile else list(shape)
            for name, shape in self.info.inputs.items()
        }


def _fp32_islands(path: Path) -> tuple[list[str], list[str]]:
    """The FP32 islands' node names and their output tensor names (how :func:`pin_fp32_layers` finds them)."""
    model = onnx.load(str(path), load_external_data=False)
    nodes = fp32_nodes(model)
    wanted = set(nodes)
    return nodes, [o for n in model.graph.node if n.name in wanted for o in n.output]


def rebuild_command(options: BuildOptions) -> str:
    """The ``trt-panoptic build`` line that reproduces ``options`` (written into the sidecar)."""
    args = ["trt-panoptic", "build", "--onnx", str(options.onnx), "--precision", options.precision,
            "--out", str(options.out)]
    if options.plugin:
        args += ["--plugins", str(options.plugin)]
    if options.workspace_mb is not None:
        args += ["--workspace-mb", str(options.workspace_mb)]
    if options.timing_cache:
        args += ["--timing-cache", str(options.timing_cache)]
    if options.opt_level is not None:
        args += ["--opt-level", str(options.opt_level)]
    for name, shape in options.shapes.items():
        args += ["--shape", f"{name}:{'x'.join(map(str, shape))}"]
    if options.max_batch != 1:
        args += ["--max-batch", str(options.max_batch)]
    if options.calib_cache:
        args += ["--calib-cache", str(options.calib_cache)]
    return shlex.join(args)


def _check_options(options: BuildOptions) -> None:
    if options.workspace_mb is not None and options.workspace_mb <= 0:
        raise TrtPanopticError(f"--workspace-mb should be a positive number of MiB, got {options.workspace_mb} — e.g. 1024")
    if options.opt_level is not None and not 0 <= options.opt_level <= 5:
        raise TrtPanopticError(f"--opt-level should be 0..5 (TensorRT's default 3), got {options.opt_level} — pick one")
    if options.plugin is not None:
        check_plugin_library(Path(options.plugin))
    if options.calib_cache is not None and not Path(options.calib_cache).is_file():
        raise TrtPanopticError(
            f"calibration cache should exist, got {str(options.calib_cache)!r} — make it with trt-panoptic calibrate --cache"
        )


#: The entry point TensorRT's IPluginRegistry::loadLibrary (and trtexec --dynamicPlugins) looks up.
PLUGIN_ENTRY_POINT = b"getCreators"


def check_plugin_library(path: Path) -> None:
    """Refuse, in one line, a ``--plugins`` file that is not a shared library exporting :data:`PLUGIN_ENTRY_POINT`.

    Without loading it (that needs TensorRT's libraries): an ELF file whose dynamic string table holds the
    name — exported symbol names are stored there NUL-terminated, so the bytes ``getCreators\0`` are present.
    """
    if not path.is_file():
        raise TrtPanopticError(
            f"plugin library should exist, got {str(path)!r} — build it with trt-panoptic plugins build")
    data = path.read_bytes()
    if not data.startswith(b"\x7fELF") or PLUGIN_ENTRY_POINT + b"\0" not in data:
        raise TrtPanopticError(
            f"plugin library should be a shared library exporting {PLUGIN_ENTRY_POINT.decode()}, got {path.name} "
            "(not one) — pass libtrt_panoptic_plugins.so from trt-panoptic plugins build")


def check_calibration_cache(path: Path, version: TrtVersion) -> None:
    """Refuse, in one line, a calibration cache whose header names another TensorRT than the one that builds:
    its ``TRT-<NV_TENSORRT_VERSION>-<calibrator>`` header records the version the scales were written for,
    and a calibrator reading a cache of another version does not use it."""
    from trt_panoptic.quantization.cache import read_cache, version_number

    cache = read_cache(path)
    expected = version_number(f"{version.major}.{version.minor}.{version.patch}")
    if cache.version != expected:
        raise TrtPanopticError(
            f"calibration cache {path.name} should be written for TensorRT {version.major}.{version.minor}.{version.patch} "
            f"(header TRT-{expected}-…), got TRT-{cache.version} — recalibrate with trt-panoptic calibrate ... --cache "
            f"{path.name} --trt-version {version.major}.{version.minor}.{version.patch}")


def prepare_build(options: BuildOptions, version: TrtVersion | str, *, dry_run: bool = False) -> PreparedBuild:
    """Plan the build of ``options`` for TensorRT ``version`` without TensorRT (also the ``--dry-run``).

    A dry run plans an ONNX with plugin ops without the plugin library (it cannot be built without
    TensorRT) and says the build will need it; a real build refuses to start without it.
    """
    version = parse_version(version) if isinstance(version, str) else version
    check_supported(version)
    _check_options(options)
    info = onnx_info(options.onnx, require_metadata=False)
    plan = select_plan(version, options.precision, calibration_cache=options.calib_cache is not None,
                       fp16_typed_onnx=info.num_fp16 > 0)
    if plan.uses_calibration_cache:
        check_calibration_cache(Path(options.calib_cache), version)
    warnings = check_onnx_for_plan(info, plan)
    plugins = [str(options.plugin)] if options.plugin else []
    if info.plugin_ops and not options.plugin:
        if not dry_run:
            raise TrtPanopticError(
                f"{info.path.name} holds plugin ops ({', '.join(info.plugin_ops)}) and should be built with their "
                "library, got no --plugins — pass --plugins path/to/libtrt_panoptic_plugins.so"
            )
        warnings.append(f"the build will need the plugin library for {', '.join(info.plugin_ops)}: build it on the "
                        "target (trt-panoptic plugins build) and pass --plugins")
        plugins = ["<libtrt_panoptic_plugins.so>"]
    profile = optimization_profile(info, options.shapes, options.max_batch)
    command = trtexec_command(
        plan, str(options.onnx), str(options.out), plugins=plugins,
        workspace_mb=options.workspace_mb, timing_cache=str(options.timing_cache) if options.timing_cache else None,
        opt_level=options.opt_level, profile=profile,
        calib_cache=str(options.calib_cache) if options.calib_cache else None,
    )
    nodes, tensors = _fp32_islands(Path(options.onnx)) if plan.pins_fp32 else ([], [])
    return PreparedBuild(options, plan, info, profile, command, rebuild_command(options), warnings, nodes, tensors)


def installed_trt_version() -> TrtVersion | None:
    """The version of the importable ``tensorrt``, or None when TensorRT is not installed."""
    try:
        import tensorrt  # noqa: F401  (optional dependency, imported only here and in build/run)
    except ImportError:
        return None
    return parse_version(tensorrt.__version__)


def load_plugin_library(trt: Any, major: int, library: str | os.PathLike) -> None:
    """Load ``library`` into TensorRT's plugin registry (what trtexec's ``--dynamicPlugins`` does), once.

    The registry is process-wide, and ``IPluginRegistry.load_library`` is documented to return None "if any of
    the plugins are already registered" — after an earlier load (build then run, two runners) or when the
    library registered itself on load. So our plugins being registered counts as loaded: the registry, not a
    Python flag, says whether to load.
    """
    registry = lookup(trt, "get_plugin_registry", major)()
    if _our_plugins_registered(registry):
        logger.info("plugin library %s: trt_panoptic plugins already registered in this process", library)
        return
    if registry.load_library(str(os.path.realpath(library))) is None and not _our_plugins_registered(registry):
        raise TrtPanopticError(
            f"TensorRT {trt.__version__} should load plugin library {library}, got a failure — rebuild it for this "
            "TensorRT (python -m trt_panoptic.plugins build) and check it exports getCreators"
        )
    logger.info("loaded plugin library %s", library)


def _our_plugins_registered(registry: Any) -> bool:
    return all(registry.get_creator(name, PLUGIN_VERSION, PLUGIN_NAMESPACE) is not None for name in PLUGIN_FIELDS)


def init_nvidia_plugins(trt: Any, trt_logger: Any) -> None:
    """Register libnvinfer_plugin's creators, as trtexec does before parsing: onnx-tensorrt maps ONNX ``RoiAlign``
    (the portable flavour's pooler) to the ``ROIAlign_TRT`` plugin, which parsing and deserialization need."""
    if not trt.init_libnvinfer_plugins(trt_logger, ""):
        raise TrtPanopticError(f"TensorRT {trt.__version__} should initialize its own plugins (libnvinfer_plugin), got a "
                               "failure — check the TensorRT installation (libnvinfer_plugin.so on the library path)")


def trt_log_severity() -> str:
    """TensorRT's log level following ours: INFO under ``-v`` (debug), else WARNING."""
    return "Logger.Severity.INFO" if logger.isEnabledFor(logging.DEBUG) else "Logger.Severity.WARNING"


def create_or_explain(factory: Callable[[], Any], what: str, version: TrtVersion) -> Any:
    """Call a TensorRT factory; its ``TypeError`` (a native factory returning NULL: no GPU or driver, or a
    library mismatch) becomes a one-line error."""
    try:
        obj = factory()
    except TypeError as exc:
        obj, detail = None, str(exc).splitlines()[0]
    else:
        detail = "returned None"
    if obj is None:
        raise TrtPanopticError(
            f"TensorRT {version} should create {what}, got a failure ({detail}) — check that a GPU and its driver "
            "are visible (nvidia-smi) and that TensorRT's libraries match its Python bindings"
        )
    return obj


def parser_errors(parser: Any) -> list[str]:
    """Every error of a failed ``OnnxParser`` as ``node 12 'name' (Op): description``."""
    messages = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        messages.append(f"node {err.node()} {err.node_name()!r} ({err.node_operator()}): {err.desc()}")
    return messages


def _cache_calibrator(trt: Any, major: int, cache: bytes) -> Any:
    """10.x legacy INT8: a calibrator that only replays ``cache`` (no images; TensorRT reads the scales)."""
    base = lookup(trt, "IInt8EntropyCalibrator2", major)

    class CacheCalibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> None:
            return None  # no data: the cache must cover every tensor

        def read_calibration_cache(self) -> bytes:
            return cache

        def write_calibration_cache(self, data: Any) -> None:
            return None

    return CacheCalibrator()


def build_engine(
    options: BuildOptions,
    *,
    trt: Any = None,
    gpu: Callable[[], tuple[str, str]] | None = None,
    memory: Callable[[], tuple[int, int] | None] | None = None,
) -> Sidecar:
    """Build ``options.onnx`` into ``options.out`` with the installed TensorRT; returns the sidecar written.

    Without ``options.workspace_mb`` the workspace is half the device memory free at build time
    (:func:`~trt_panoptic.engine.build_log.default_workspace_mb`), recorded in the sidecar.

    Args:
        options: the build request.
        trt: the ``tensorrt`` module (default: import it; tests pass a stand-in).
        gpu: returns (GPU name, compute capability) for the sidecar (default: :func:`engine.cuda.gpu_info`).
        memory: returns (free, total) device bytes, or None (default: :func:`engine.cuda.device_memory`).
    """
    if trt is None:
        trt = import_optional("tensorrt", TENSORRT_INSTALL_HINT)
    version = parse_version(trt.__version__)
    if memory is None:
        from trt_panoptic.engine.cuda import device_memory as memory
    free_total = memory()
    if options.workspace_mb is None and free_total is not None:
        options = dataclasses.replace(options, workspace_mb=default_workspace_mb(free_total[0]))
        logger.info("workspace: %d MiB, half of the %d MiB free on the GPU (--workspace-mb to choose)",
                    options.workspace_mb, free_total[0] >> 20)
    prepared = prepare_build(options, version)
    logger.info(prepared.plan.describe())
    for text in prepared.warnings:
        logger.warning(text)
    logger.info("equivalent trtexec command:\n  %s", prepared.trtexec)
    if gpu is None:
        from trt_panoptic.engine.cuda import gpu_info as gpu
    gpu_name, capability = gpu()

    trt_logger, trt_errors = capturing_logger(trt)
    builder = create_or_explain(lambda: trt.Builder(trt_logger), "a builder", version)
    # plugin creators before parsing: NVIDIA's (ROIAlign_TRT for the portable pooler) and ours
    init_nvidia_plugins(trt, trt_logger)
    if options.plugin is not None:
        load_plugin_library(trt, version.major, options.plugin)
    network = _parse_network(trt, builder, trt_logger, prepared)
    if prepared.fp32_nodes:
        pin_fp32_layers(trt, network, prepared.fp32_nodes, prepared.fp32_tensors)
    config = _builder_config(trt, builder, prepared)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TrtPanopticError(f"TensorRT {version} should build the engine, got a failure: "
                               f"{explain_build_failure(trt_errors, options.workspace_mb, free_total)}")
    if options.timing_cache is not None:
        atomic_write_bytes(options.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    atomic_write_bytes(options.out, bytes(memoryview(serialized)))
    sidecar = _sidecar(prepared, str(trt.__version__), gpu_name, capability)
    path = write_sidecar(options.out, sidecar)
    logger.info("wrote %s (%.1f MB) and %s", options.out, os.path.getsize(options.out) / 1e6, path)
    return sidecar


def _parse_network(trt: Any, builder: Any, trt_logger: Any, prepared: PreparedBuild) -> Any:
    """The network of the plan's creation flags, parsed from the ONNX; every parser error is logged, the first
    one raised."""
    plan, options = prepared.plan, prepared.options
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(lookup(trt, f"NetworkDefinitionCreationFlag.{name}", plan.version.major))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(options.onnx)):
        errors = parser_errors(parser)
        for text in errors:
            logger.error("ONNX parser: %s", text)
        raise TrtPanopticError(
            f"{Path(options.onnx).name} should parse with TensorRT {plan.version}, got {len(errors)} error(s), first: "
            f"{errors[0] if errors else 'unknown'} — see trt-panoptic inspect {options.onnx}"
        )
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        logger.info("network input %s %s", tensor.name, tuple(tensor.shape))
    return network


def pin_fp32_layers(trt: Any, network: Any, nodes: list[str], tensors: list[str]) -> int:
    """Pin the parsed layers of ``nodes`` (found by name, or by an output in ``tensors``) to FP32: their precision and every float output type
    (``ILayer.precision`` / ``set_output_type``; honoured under ``BuilderFlag.OBEY_PRECISION_CONSTRAINTS``).

    TensorRT's ONNX parser names a node's layer after the node and the layer's output after the node's
    output, so a layer is pinned when its name is one of ``nodes`` or one of its outputs one of ``tensors``.
    Returns how many layers were pinned; none at all is logged as a warning (a parser naming layers otherwise
    would silently leave the box math to FP16).
    """
    wanted, wanted_tensors = set(nodes), set(tensors)
    float_types = {trt.float32, trt.float16}
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        outputs = [layer.get_output(j) for j in range(layer.num_outputs)]
        if layer.name not in wanted and not any(t.name in wanted_tensors for t in outputs):
            continue
        layer.precision = trt.float32
        for j, tensor in enumerate(outputs):
            if tensor.dtype in float_types:
                layer.set_output_type(j, trt.float32)
        pinned += 1
    if pinned:
        logger.info("precision constraints: %d layers pinned to FP32 (the FP16-typed export's FP32 islands)", pinned)
    else:
        logger.warning("precision constraints: none of the %d FP32 layers was found by name in the parsed network; "
                       "box math may run in FP16 — export with --fp16 and build strongly typed instead", len(nodes))
    return pinned


def _builder_config(trt: Any, builder: Any, prepared: PreparedBuild) -> Any:
    """The builder config of the plan: precision flags, memory, optimization level, calibration cache, timing
    cache, optimization profile."""
    plan, options = prepared.plan, prepared.options
    major = plan.version.major
    config = builder.create_builder_config()
    for name in plan.builder_flags:
        config.set_flag(lookup(trt, f"BuilderFlag.{name}", major))
    if options.workspace_mb is not None:
        config.set_memory_pool_limit(lookup(trt, "MemoryPoolType.WORKSPACE", major), int(options.workspace_mb) << 20)
    if options.opt_level is not None:
        config.builder_optimization_level = int(options.opt_level)
    if plan.uses_calibration_cache:
        config.int8_calibrator = _cache_calibrator(trt, major, Path(options.calib_cache).read_bytes())
    if options.timing_cache is not None:
        data = Path(options.timing_cache).read_bytes() if Path(options.timing_cache).is_file() else b""
        if not config.set_timing_cache(config.create_timing_cache(data), False):
            raise TrtPanopticError(
                f"timing cache {options.timing_cache} should match this TensorRT/GPU, got a mismatch — delete it"
            )
        logger.info("timing cache %s (%d bytes read)", options.timing_cache, len(data))
    if prepared.profile:
        profile = builder.create_optimization_profile()
        for name, (lo, opt, hi) in prepared.profile.items():
            profile.set_shape(name, lo, opt, hi)
            logger.info("optimization profile %s: min %s opt %s max %s", name, lo, opt, hi)
        config.add_optimization_profile(profile)
    return config


def _sidecar(prepared: PreparedBuild, tensorrt_version: str, gpu_name: str, capability: str) -> Sidecar:
    """What the engine was built from and for, written beside it."""
    plan, options, info = prepared.plan, prepared.options, prepared.info
    return Sidecar(
        tensorrt_version=tensorrt_version,
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=options.precision,
        inputs=prepared.engine_input_shapes(),
        # Absolute, so the engine finds its ONNX and plugin library from any working directory.
        onnx_path=str(Path(options.onnx).resolve()),
        onnx_sha256=sha256_file(options.onnx),
        plugin_path=str(Path(options.plugin).resolve()) if options.plugin else None,
        plugin_sha256=sha256_file(options.plugin) if options.plugin else None,
        builder_flags=list(plan.builder_flags),
        network_flags=list(plan.network_flags),
        workspace_mb=options.workspace_mb,
        opt_level=options.opt_level,
        timing_cache=str(options.timing_cache) if options.timing_cache else None,
        rebuild_command=prepared.rebuild,
        trtexec_command=prepared.trtexec,
        model_config=info.config.to_dict() if info.config is not None else None,
        input_size=[info.height, info.width] if info.height else None,
    )
