"""The CUDA side of the TensorRT runner: device and pinned host buffers, one stream, copies, CUDA graphs.

cuda-python (``cuda.bindings.runtime``, or ``cuda.cudart`` before cuda-python 12.6) is the primary
binding, as in NVIDIA's samples since TensorRT 10.13; pycuda is the fallback (common on JetPack 5/6).
Both are imported inside :func:`load_cuda_backend`, never at import time. Every cuda-python runtime call
this module makes is listed in :data:`CUDA_RUNTIME_API` (checked against the real bindings in the
tests when cuda-python is installed).
"""
from __future__ import annotations

import ctypes
import importlib
import logging
import shutil
import subprocess
from typing import Any, Protocol

import numpy as np

from trt_panoptic.errors import TrtPanopticError

log = logging.getLogger(__name__)

CUDA_INSTALL_HINT = (
    "pip install cuda-python (or, on JetPack, pip install pycuda); both need the NVIDIA driver"
)

# cuda-python runtime functions used here → number of parameters in their signature.
CUDA_RUNTIME_API: dict[str, int] = {
    "cudaGetDevice": 0,
    "cudaGetDeviceProperties": 1,
    "cudaMalloc": 1,
    "cudaFree": 1,
    "cudaMallocHost": 1,
    "cudaFreeHost": 1,
    "cudaStreamCreate": 0,
    "cudaStreamDestroy": 1,
    "cudaStreamSynchronize": 1,
    "cudaMemcpyAsync": 5,
    "cudaStreamBeginCapture": 2,
    "cudaStreamEndCapture": 1,
    "cudaGraphInstantiate": 2,
    "cudaGraphLaunch": 2,
    "cudaGraphExecDestroy": 1,
    "cudaGraphDestroy": 1,
    "cudaGetErrorString": 1,
}
# cuda-python runtime enum members used here.
CUDA_RUNTIME_ENUMS: tuple[str, ...] = (
    "cudaError_t.cudaSuccess",
    "cudaMemcpyKind.cudaMemcpyHostToDevice",
    "cudaMemcpyKind.cudaMemcpyDeviceToHost",
    "cudaStreamCaptureMode.cudaStreamCaptureModeGlobal",
)


class CudaBackend(Protocol):
    """What the runner needs from a CUDA binding. Pointers are plain ints."""

    name: str

    def device_info(self) -> tuple[str, str]:
        """(GPU name, compute capability ``"major.minor"``) of the current device."""

    def malloc(self, nbytes: int) -> int: ...

    def free(self, ptr: int) -> None: ...

    def host_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A pinned (page-locked) host array."""

    def host_free(self, array: np.ndarray) -> None: ...

    @property
    def stream_handle(self) -> int:
        """The stream as an int, for ``execute_async_v3``."""

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None: ...

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None: ...

    def synchronize(self) -> None: ...

    def begin_capture(self) -> None: ...

    def end_capture(self) -> Any:
        """Stop capturing; returns an executable graph."""

    def launch_graph(self, graph: Any) -> None: ...

    def destroy_graph(self, graph: Any) -> None: ...

    def close(self) -> None: ...


class CudaPythonBackend:
    """:class:`CudaBackend` over cuda-python's runtime module."""

    name = "cuda-python"

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._pinned: dict[int, int] = {}  # id(array) → host pointer
        self._stream = self._call("cudaStreamCreate")

    def _call(self, fn: str, *args: Any) -> Any:
        assert fn in CUDA_RUNTIME_API, f"trt_panoptic.engine.cuda: {fn} missing from CUDA_RUNTIME_API"
        result = getattr(self.rt, fn)(*args)
        err, rest = result[0], result[1:]
        if err != self.rt.cudaError_t.cudaSuccess:
            name = getattr(err, "name", str(err))
            raise TrtPanopticError(
                f"CUDA call {fn} should succeed, got {name} — check the GPU and driver (nvidia-smi) and free GPU memory"
            )
        return rest[0] if len(rest) == 1 else (rest or None)

    def device_info(self) -> tuple[str, str]:
        device = self._call("cudaGetDevice")
        prop = self._call("cudaGetDeviceProperties", device)
        name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        return name, f"{prop.major}.{prop.minor}"

    def malloc(self, nbytes: int) -> int:
        return int(self._call("cudaMalloc", max(int(nbytes), 1)))

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ptr)

    def host_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, 1)
        ptr = int(self._call("cudaMallocHost", nbytes))
        raw = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))
        array = raw[: int(np.prod(shape, dtype=np.int64)) * dtype.itemsize].view(dtype).reshape(shape)
        self._pinned[id(array)] = ptr
        return array

    def host_free(self, array: np.ndarray) -> None:
        ptr = self._pinned.pop(id(array), None)
        if ptr is not None:
            self._call("cudaFreeHost", ptr)

    @property
    def stream_handle(self) -> int:
        return int(self._stream)

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync", ptr, host.ctypes.data, host.nbytes, kind, self._stream)

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync", host.ctypes.data, ptr, host.nbytes, kind, self._stream)

    def synchronize(self) -> None:
        self._call("cudaStreamSynchronize", self._stream)

    def begin_capture(self) -> None:
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal
        self._call("cudaStreamBeginCapture", self._stream, mode)

    def end_capture(self) -> Any:
        graph = self._call("cudaStreamEndCapture", self._stream)
        graph_exec = self._call("cudaGraphInstantiate", graph, 0)
        return graph, graph_exec

    def launch_graph(self, graph: Any) -> None:
        self._call("cudaGraphLaunch", graph[1], self._stream)

    def destroy_graph(self, graph: Any) -> None:
        self._call("cudaGraphExecDestroy", graph[1])
        self._call("cudaGraphDestroy", graph[0])

    def close(self) -> None:
        if self._stream is not None:
            self._call("cudaStreamDestroy", self._stream)
            self._stream = None


class PyCudaBackend:
    """:class:`CudaBackend` over pycuda, on the device's primary context (the one TensorRT uses)."""

    name = "pycuda"

    def __init__(self, driver: Any) -> None:
        self.cuda = driver
        driver.init()
        self.device = driver.Device(0)
        self.context = self.device.retain_primary_context()
        self.context.push()
        self._allocs: dict[int, Any] = {}
        self.stream = driver.Stream()

    def device_info(self) -> tuple[str, str]:
        major, minor = self.device.compute_capability()
        return self.device.name(), f"{major}.{minor}"

    def malloc(self, nbytes: int) -> int:
        alloc = self.cuda.mem_alloc(max(int(nbytes), 1))
        self._allocs[int(alloc)] = alloc
        return int(alloc)

    def free(self, ptr: int) -> None:
        alloc = self._allocs.pop(ptr, None)
        if alloc is not None:
            alloc.free()

    def host_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return self.cuda.pagelocked_empty(shape, dtype)

    def host_free(self, array: np.ndarray) -> None:
        base = getattr(array, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()

    @property
    def stream_handle(self) -> int:
        return int(self.stream.handle)

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None:
        self.cuda.memcpy_htod_async(ptr, host, self.stream)

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None:
        self.cuda.memcpy_dtoh_async(host, ptr, self.stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def begin_capture(self) -> None:
        raise TrtPanopticError(
            "CUDA graphs should be captured through cuda-python, got pycuda — pip install cuda-python, or run "
            "without --cuda-graph"
        )

    def end_capture(self) -> Any:  # pragma: no cover - begin_capture refuses first
        raise AssertionError("trt_panoptic.engine.cuda: pycuda capture not supported")

    def launch_graph(self, graph: Any) -> None:  # pragma: no cover
        raise AssertionError("trt_panoptic.engine.cuda: pycuda capture not supported")

    def destroy_graph(self, graph: Any) -> None:  # pragma: no cover
        pass

    def close(self) -> None:
        if self.context is not None:
            self.context.pop()
            self.context = None


def _import_cuda_python_runtime() -> Any | None:
    for module in ("cuda.bindings.runtime", "cuda.cudart"):  # new layout, then cuda-python < 12.6
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    return None


def load_cuda_backend(prefer: str | None = None) -> CudaBackend:
    """cuda-python's backend if installed, else pycuda's; ``prefer`` = ``"cuda-python"`` | ``"pycuda"``."""
    if prefer not in (None, "cuda-python", "pycuda"):
        raise TrtPanopticError(f"CUDA binding should be cuda-python or pycuda, got {prefer!r} — pick one")
    if prefer in (None, "cuda-python"):
        runtime = _import_cuda_python_runtime()
        if runtime is not None:
            return CudaPythonBackend(runtime)
        if prefer == "cuda-python":
            raise TrtPanopticError(f"cuda-python should be installed, got none — {CUDA_INSTALL_HINT}")
    try:
        driver = importlib.import_module("pycuda.driver")
    except ImportError:
        raise TrtPanopticError(f"a CUDA binding should be installed, got neither cuda-python nor pycuda — {CUDA_INSTALL_HINT}") from None
    return PyCudaBackend(driver)


def gpu_info() -> tuple[str, str]:
    """(GPU name, compute capability) of device 0, from a CUDA binding or, failing that, nvidia-smi."""
    try:
        backend = load_cuda_backend()
    except TrtPanopticError:
        backend = None
    if backend is not None:
        try:
            return backend.device_info()
        finally:
            backend.close()
    smi = shutil.which("nvidia-smi")
    if smi:
        out = subprocess.run(
            [smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        )
        if out.returncode == 0 and out.stdout.strip():
            name, cap = [s.strip() for s in out.stdout.strip().splitlines()[0].rsplit(",", 1)]
            return name, cap
    raise TrtPanopticError(f"a GPU should be visible to record in the engine sidecar, got none — {CUDA_INSTALL_HINT}")
