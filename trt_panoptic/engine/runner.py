"""Run a TensorRT engine: named numpy inputs in, named numpy outputs out.

:class:`TrtRunner` deserializes the engine with its plugin library loaded, after checking the sidecar
against the running TensorRT, GPU and plugin library; it keeps one device buffer and one pinned host
buffer per I/O tensor and runs H2D copies → ``execute_async_v3`` (tensor addresses set by name) → D2H
copies on one stream, optionally replaying the three as a captured CUDA graph. The export capability's
Predictor wraps :meth:`TrtRunner.run` the way it wraps an ONNX Runtime session.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trt_panoptic.engine.api import lookup
from trt_panoptic.engine.builder import (
    TENSORRT_INSTALL_HINT,
    create_or_explain,
    init_nvidia_plugins,
    load_plugin_library,
    trt_log_severity,
)
from trt_panoptic.engine.cuda import CudaBackend, load_cuda_backend
from trt_panoptic.engine.files import sha256_file
from trt_panoptic.engine.sidecar import check_sidecar, read_sidecar
from trt_panoptic.engine.versions import check_supported, parse_version
from trt_panoptic.errors import TrtPanopticError, import_optional

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorSpec:
    """One engine I/O tensor: name, numpy dtype, shape (-1 = dynamic) and whether it is an input."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    is_input: bool


def _own_build(library: Path) -> bool:
    """Whether ``library`` lies in this package's plugin build folder (``trt-panoptic plugins build``)."""
    from trt_panoptic.plugins.build import default_build_dir

    try:
        own = default_build_dir().resolve()
    except TrtPanopticError:  # an install without the plugin sources has no build of its own
        return False
    return library.resolve().is_relative_to(own)


class TrtRunner:
    """A deserialized engine with its buffers, stream and (optionally) CUDA graph.

    Args:
        engine_path: the ``.engine`` file; its sidecar ``<engine>.json`` must be beside it.
        plugin: plugin library to load (default: the one recorded in the sidecar, if it is this package's own
            build — a sidecar is a JSON file anyone can edit, so it may not make us load any library).
        trust_sidecar_plugin: load the sidecar's library wherever it is.
        cuda_graph: capture H2D → execute → D2H once per input shape and replay it (cuda-python only).
        trt / cuda: the ``tensorrt`` module and a :class:`CudaBackend` (defaults: import them; tests pass
            stand-ins).
    """

    def __init__(
        self,
        engine_path: str | os.PathLike,
        *,
        plugin: str | os.PathLike | None = None,
        trust_sidecar_plugin: bool = False,
        cuda_graph: bool = False,
        trt: Any = None,
        cuda: CudaBackend | None = None,
    ) -> None:
        if trt is None:
            trt = import_optional("tensorrt", TENSORRT_INSTALL_HINT)
        self.trt = trt
        self.version = parse_version(trt.__version__)
        check_supported(self.version)
        major = self.version.major
        self.engine_path = Path(engine_path)
        if not self.engine_path.is_file():
            raise TrtPanopticError(f"engine file should exist, got {str(engine_path)!r} — build it with trt-panoptic build")
        self.sidecar = read_sidecar(self.engine_path)
        if plugin is None and self.sidecar.plugin_path:
            plugin = self.engine_path.parent / self.sidecar.plugin_path  # relative paths: beside the engine
            if not (trust_sidecar_plugin or _own_build(Path(plugin))):
                raise TrtPanopticError(
                    f"the engine's sidecar names plugin library {plugin}, which is not this package's own build, and a "
                    "sidecar may not choose what gets loaded — pass --plugins with that library (plugins=...), or "
                    "--trust-sidecar-plugins to load it")
        if plugin is not None and not Path(plugin).is_file():
            raise TrtPanopticError(
                f"plugin library should exist, got {str(plugin)!r} — pass --plugins with the library the engine was built with"
            )
        self.cuda = cuda if cuda is not None else load_cuda_backend()
        self._buffers: dict[str, tuple[np.ndarray, int]] = {}  # name → (pinned host array, device pointer)
        self._graph: Any = None
        try:
            if cuda_graph and self.cuda.name == "pycuda":
                raise TrtPanopticError(
                    "CUDA graphs should be captured through cuda-python, got pycuda — pip install cuda-python, or run "
                    "without --cuda-graph"
                )
            gpu_name, capability = self.cuda.device_info()
            check_sidecar(
                self.sidecar, tensorrt_version=str(trt.__version__), gpu_name=gpu_name, compute_capability=capability,
                plugin_sha256=sha256_file(plugin) if plugin is not None else None,
            )
            self._logger = trt.Logger(lookup(trt, trt_log_severity(), major))
            self._runtime = create_or_explain(lambda: trt.Runtime(self._logger), "a runtime", self.version)
            # plugin creators before deserializing: NVIDIA's and ours
            init_nvidia_plugins(trt, self._logger)
            if plugin is not None:
                load_plugin_library(trt, major, plugin)
            self.engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
            if self.engine is None:
                raise TrtPanopticError(
                    f"TensorRT {self.version} should deserialize {self.engine_path.name}, got a failure (see its log) — "
                    f"rebuild it: {self.sidecar.rebuild_command}"
                )
            self.context = self.engine.create_execution_context()
            input_mode = lookup(trt, "TensorIOMode.INPUT", major)
            nptype = lookup(trt, "nptype", major)
            specs = []
            for i in range(self.engine.num_io_tensors):
                name = self.engine.get_tensor_name(i)
                specs.append(TensorSpec(
                    name=name,
                    dtype=np.dtype(nptype(self.engine.get_tensor_dtype(name))),
                    shape=tuple(int(d) for d in self.engine.get_tensor_shape(name)),
                    is_input=self.engine.get_tensor_mode(name) == input_mode,
                ))
            self.inputs = [s for s in specs if s.is_input]
            self.outputs = [s for s in specs if not s.is_input]
            self.cuda_graph = cuda_graph
            self._shapes: dict[str, tuple[int, ...]] = {}
        except BaseException:
            self.close()  # a wrong GPU/TensorRT (sidecar) or a failed deserialize must not leak the stream
            raise
        logger.info(
            "TensorRT %s engine %s: inputs %s, outputs %s, CUDA via %s%s", self.version, self.engine_path.name,
            [(s.name, s.shape, str(s.dtype)) for s in self.inputs], [s.name for s in self.outputs],
            self.cuda.name, ", CUDA graph" if cuda_graph else "",
        )

    # -- buffers ---------------------------------------------------------------------------------
    def _ensure_buffer(self, spec: TensorSpec, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
        current = self._buffers.get(spec.name)
        if current is not None and current[0].shape == shape:
            return current
        if current is not None:
            self.cuda.host_free(current[0])
            self.cuda.free(current[1])
        host = self.cuda.host_empty(shape, spec.dtype)
        device = self.cuda.malloc(host.nbytes)
        self._buffers[spec.name] = (host, device)
        self.context.set_tensor_address(spec.name, device)
        self._drop_graph()  # a captured graph holds the old addresses
        return host, device

    def _drop_graph(self) -> None:
        if self._graph is not None:
            self.cuda.destroy_graph(self._graph)
            self._graph = None

    def _check_input(self, spec: TensorSpec, array: Any) -> np.ndarray:
        array = np.asarray(array)
        if array.dtype != spec.dtype:
            raise TrtPanopticError(
                f"engine input {spec.name} should be {spec.dtype}, got {array.dtype} — convert it (e.g. image.astype(np.{spec.dtype}))"
            )
        fits = len(array.shape) == len(spec.shape) and all(d < 0 or d == a for d, a in zip(spec.shape, array.shape))
        if not fits:
            expected = "x".join("?" if d < 0 else str(d) for d in spec.shape)
            raise TrtPanopticError(
                f"engine input {spec.name} should have shape {expected}, got {'x'.join(map(str, array.shape))} — "
                "resize/letterbox to the engine's size or rebuild the engine for this size"
            )
        return array

    # -- inference -------------------------------------------------------------------------------
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the engine once.

        Args:
            inputs: every engine input by name (numpy arrays of the engine's dtype and shape; a dynamic
                dimension takes any size inside the build profile).

        Returns:
            Every engine output by name, as new numpy arrays (the pinned buffers are reused next call).
        """
        names = {s.name for s in self.inputs}
        if set(inputs) != names:
            missing, extra = sorted(names - set(inputs)), sorted(set(inputs) - names)
            raise TrtPanopticError(
                f"engine inputs should be {sorted(names)}, got {sorted(inputs)} (missing {missing}, unknown {extra}) "
                "— pass exactly the engine's inputs"
            )
        arrays = {s.name: self._check_input(s, inputs[s.name]) for s in self.inputs}
        for spec in self.inputs:
            shape = arrays[spec.name].shape
            if self._shapes.get(spec.name) != shape:
                if any(d < 0 for d in spec.shape) and not self.context.set_input_shape(spec.name, shape):
                    raise TrtPanopticError(
                        f"engine input {spec.name} shape {shape} should lie in the engine's optimization profile — "
                        "rebuild with --shape/--max-batch covering it"
                    )
                self._shapes[spec.name] = shape
                self._drop_graph()
            host, _ = self._ensure_buffer(spec, shape)
            np.copyto(host, arrays[spec.name])
        out_buffers = []
        for spec in self.outputs:
            shape = tuple(int(d) for d in self.context.get_tensor_shape(spec.name))
            if any(d < 0 for d in shape):
                raise TrtPanopticError(
                    f"engine output {spec.name} should have a shape known from the inputs, got {shape} — export the "
                    "model with fixed-size (padded) outputs"
                )
            out_buffers.append((spec.name, *self._ensure_buffer(spec, shape)))

        if self.cuda_graph and self._graph is None:
            # One plain run first: TensorRT finishes deferred setup outside the capture.
            self._enqueue(out_buffers)
            self.cuda.synchronize()
            self._graph = self._capture(out_buffers)
        if self._graph is not None:
            self.cuda.launch_graph(self._graph)
        else:
            self._enqueue(out_buffers)
        self.cuda.synchronize()
        return {name: host.copy() for name, host, _ in out_buffers}

    def _capture(self, out_buffers: list[tuple[str, np.ndarray, int]]) -> Any:
        """The run captured as a CUDA graph, or None when capture fails: as trtexec does, the capture is ended
        on any error and the runner goes on without a graph (one warning), so the stream, later runs and
        ``close`` keep working."""
        try:
            self.cuda.begin_capture()
            try:
                self._enqueue(out_buffers)
            except BaseException:
                self.cuda.abort_capture()
                raise
            return self.cuda.end_capture()
        except TrtPanopticError as exc:
            logger.warning("CUDA graph capture of %s failed (%s); running without a CUDA graph",
                           self.engine_path.name, str(exc).split(" — ")[0])
            self.cuda_graph = False
            return None

    def _enqueue(self, out_buffers: list[tuple[str, np.ndarray, int]]) -> None:
        for spec in self.inputs:
            host, device = self._buffers[spec.name]
            self.cuda.copy_to_device_async(device, host)
        if not self.context.execute_async_v3(self.cuda.stream_handle):
            raise TrtPanopticError(
                f"TensorRT should run {self.engine_path.name}, got a failure from execute_async_v3 (see its log) — "
                f"rebuild the engine: {self.sidecar.rebuild_command}"
            )
        for _, host, device in out_buffers:
            self.cuda.copy_to_host_async(host, device)

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        """Free buffers, graph and stream (also on ``with`` exit)."""
        self._drop_graph()
        for host, device in self._buffers.values():
            self.cuda.host_free(host)
            self.cuda.free(device)
        self._buffers.clear()
        self.cuda.close()

    def __enter__(self) -> "TrtRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def tensorrt_available() -> tuple[bool, str]:
    """(True, version) when TensorRT and a CUDA binding import; else (False, the reason) — for ``--backend auto``."""
    try:
        trt = import_optional("tensorrt", TENSORRT_INSTALL_HINT)
    except TrtPanopticError as exc:
        return False, str(exc)
    import importlib.util

    if not any(importlib.util.find_spec(m.split(".")[0]) for m in ("cuda", "pycuda")):
        return False, "neither cuda-python nor pycuda is installed — pip install cuda-python"
    return True, str(trt.__version__)
