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

logger = logging.getLogger(__name__)

#: What to install when no CUDA binding is importable (ends the one-line errors).
CUDA_INSTALL_HINT = (
    "pip install cuda-python (or, on JetPack, pip install pycuda); both need the NVIDIA driver"
)

#: cuda-python runtime functions used here → number of parameters in their signature.
CUDA_RUNTIME_API: dict[str, int] = {
    "cudaGetDevice": 0,
    "cudaGetDeviceProperties": 1,
    "cudaMemGetInfo": 0,
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
#: cuda-python runtime enum members used here.
CUDA_RUNTIME_ENUMS: tuple[str, ...] = (
    "cudaError_t.cudaSuccess",
    "cudaMemcpyKind.cudaMemcpyHostToDevice",
    "cudaMemcpyKind.cudaMemcpyDeviceToHost",
    "cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal",
)


class CudaBackend(Protocol):
    """What the runner needs from a CUDA binding. Pointers are plain ints."""

    name: str

    def device_info(self) -> tuple[str, str]:
        """(GPU name, compute capability ``"major.minor"``) of the current device."""

    def memory_info(self) -> tuple[int, int]:
        """(free, total) bytes of device memory (on a Jetson: of the memory the CPU shares with it)."""

    def malloc(self, nbytes: int) -> int:
        """Allocate ``nbytes`` of device memory; returns the device pointer."""

    def free(self, ptr: int) -> None:
        """Free a device pointer from :meth:`malloc`."""

    def host_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A pinned (page-locked) host array."""

    def host_free(self, array: np.ndarray) -> None:
        """Release an array from :meth:`host_empty`; it must not be used afterwards."""

    @property
    def stream_handle(self) -> int:
        """The stream as an int, for ``execute_async_v3``."""

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None:
        """Queue a copy of the contiguous ``host`` array to device memory at ``ptr`` on the stream."""

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None:
        """Queue a copy of ``host.nbytes`` bytes from device memory at ``ptr`` into ``host`` on the stream."""

    def synchronize(self) -> None:
        """Wait until the work queued on the stream has finished."""

    def begin_capture(self) -> None:
        """Start capturing the work queued on the stream into a CUDA graph."""

    def end_capture(self) -> Any:
        """Stop capturing; returns an executable graph."""

    def abort_capture(self) -> None:
        """End a failed capture and drop it, so the stream works (and frees) again."""

    def launch_graph(self, graph: Any) -> None:
        """Replay a graph from :meth:`end_capture` on the stream."""

    def destroy_graph(self, graph: Any) -> None:
        """Free a graph from :meth:`end_capture`."""

    def close(self) -> None:
        """Release the stream (and context); the backend is not usable afterwards."""


class CudaPythonBackend:
    """:class:`CudaBackend` over cuda-python's runtime module; creates its stream at construction.

    Args:
        runtime: ``cuda.bindings.runtime`` (or ``cuda.cudart`` before cuda-python 12.6). A call that does not
            return ``cudaSuccess`` raises :class:`TrtPanopticError` naming the call and the error.
    """

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
        """(GPU name, compute capability ``"major.minor"``) of the current device."""
        device = self._call("cudaGetDevice")
        prop = self._call("cudaGetDeviceProperties", device)
        name = prop.name.split(b"\0", 1)[0].decode() if isinstance(prop.name, bytes) else str(prop.name)
        return name, f"{prop.major}.{prop.minor}"

    def memory_info(self) -> tuple[int, int]:
        """``cudaMemGetInfo``: (free, total) bytes."""
        free, total = self._call("cudaMemGetInfo")
        return int(free), int(total)

    def malloc(self, nbytes: int) -> int:
        """``cudaMalloc`` of ``nbytes`` (at least 1); returns the device pointer."""
        return int(self._call("cudaMalloc", max(int(nbytes), 1)))

    def free(self, ptr: int) -> None:
        """``cudaFree`` of a pointer from :meth:`malloc`."""
        self._call("cudaFree", ptr)

    def host_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised ``shape``/``dtype`` array over pinned ``cudaMallocHost`` memory; free it with
        :meth:`host_free`."""
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize, 1)
        ptr = int(self._call("cudaMallocHost", nbytes))
        raw = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))
        array = raw[: int(np.prod(shape, dtype=np.int64)) * dtype.itemsize].view(dtype).reshape(shape)
        self._pinned[id(array)] = ptr
        return array

    def host_free(self, array: np.ndarray) -> None:
        """``cudaFreeHost`` of the memory behind an array from :meth:`host_empty`; other arrays are ignored."""
        ptr = self._pinned.pop(id(array), None)
        if ptr is not None:
            self._call("cudaFreeHost", ptr)

    @property
    def stream_handle(self) -> int:
        """The stream as an int, for ``execute_async_v3``."""
        return int(self._stream)

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None:
        """``cudaMemcpyAsync`` of ``host`` to ``ptr`` on the stream; keep ``host`` alive until :meth:`synchronize`."""
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._call("cudaMemcpyAsync", ptr, host.ctypes.data, host.nbytes, kind, self._stream)

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None:
        """``cudaMemcpyAsync`` from ``ptr`` into ``host`` on the stream; ``host`` holds the data after
        :meth:`synchronize`."""
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._call("cudaMemcpyAsync", host.ctypes.data, ptr, host.nbytes, kind, self._stream)

    def synchronize(self) -> None:
        """``cudaStreamSynchronize`` of the stream."""
        self._call("cudaStreamSynchronize", self._stream)

    def begin_capture(self) -> None:
        """Start capturing the stream into a CUDA graph, in thread-local mode (as trtexec captures): a global
        capture makes unsafe calls of *every* thread (cudaFree, cudaStreamSynchronize …) fail with
        cudaErrorStreamCaptureUnsupported while it lasts."""
        mode = self.rt.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        self._call("cudaStreamBeginCapture", self._stream, mode)

    def abort_capture(self) -> None:
        """End a capture that failed, whatever its state, and drop what it captured (errors ignored: the
        capture may already be invalidated), so the stream and the thread can run and free again."""
        result = self.rt.cudaStreamEndCapture(self._stream)
        graph = result[1] if len(result) > 1 else None
        if graph is not None:
            self.rt.cudaGraphDestroy(graph)

    def end_capture(self) -> Any:
        """Stop capturing and instantiate the graph; returns ``(graph, graph_exec)``."""
        graph = self._call("cudaStreamEndCapture", self._stream)
        graph_exec = self._call("cudaGraphInstantiate", graph, 0)
        return graph, graph_exec

    def launch_graph(self, graph: Any) -> None:
        """Launch the executable graph of an :meth:`end_capture` result on the stream."""
        self._call("cudaGraphLaunch", graph[1], self._stream)

    def destroy_graph(self, graph: Any) -> None:
        """Destroy the executable and the captured graph of an :meth:`end_capture` result."""
        self._call("cudaGraphExecDestroy", graph[1])
        self._call("cudaGraphDestroy", graph[0])

    def close(self) -> None:
        """Destroy the stream; later calls do nothing."""
        if self._stream is not None:
            self._call("cudaStreamDestroy", self._stream)
            self._stream = None


class PyCudaBackend:
    """:class:`CudaBackend` over pycuda, on the device's primary context (the one TensorRT uses).

    Args:
        driver: ``pycuda.driver``; the constructor initialises CUDA, pushes device 0's primary context and
            creates the stream (:meth:`close` pops the context). CUDA graphs are not supported.
    """

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
        """(GPU name, compute capability ``"major.minor"``) of device 0."""
        major, minor = self.device.compute_capability()
        return self.device.name(), f"{major}.{minor}"

    def memory_info(self) -> tuple[int, int]:
        """``mem_get_info``: (free, total) bytes."""
        free, total = self.cuda.mem_get_info()
        return int(free), int(total)

    def malloc(self, nbytes: int) -> int:
        """``mem_alloc`` of ``nbytes`` (at least 1), kept alive until :meth:`free`; returns the device pointer."""
        alloc = self.cuda.mem_alloc(max(int(nbytes), 1))
        self._allocs[int(alloc)] = alloc
        return int(alloc)

    def free(self, ptr: int) -> None:
        """Free a pointer from :meth:`malloc`; unknown pointers are ignored."""
        alloc = self._allocs.pop(ptr, None)
        if alloc is not None:
            alloc.free()

    def host_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised page-locked array (``pagelocked_empty``) of ``shape``/``dtype``."""
        return self.cuda.pagelocked_empty(shape, dtype)

    def host_free(self, array: np.ndarray) -> None:
        """Free the page-locked memory behind an array from :meth:`host_empty`; other arrays are ignored."""
        base = getattr(array, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()

    @property
    def stream_handle(self) -> int:
        """The stream's handle as an int, for ``execute_async_v3``."""
        return int(self.stream.handle)

    def copy_to_device_async(self, ptr: int, host: np.ndarray) -> None:
        """``memcpy_htod_async`` of ``host`` to ``ptr`` on the stream."""
        self.cuda.memcpy_htod_async(ptr, host, self.stream)

    def copy_to_host_async(self, host: np.ndarray, ptr: int) -> None:
        """``memcpy_dtoh_async`` from ``ptr`` into ``host`` on the stream."""
        self.cuda.memcpy_dtoh_async(host, ptr, self.stream)

    def synchronize(self) -> None:
        """Wait until the work queued on the stream has finished."""
        self.stream.synchronize()

    def begin_capture(self) -> None:
        """Refused: CUDA graphs need cuda-python (raises :class:`TrtPanopticError` saying so)."""
        raise TrtPanopticError(
            "CUDA graphs should be captured through cuda-python, got pycuda — pip install cuda-python, or run "
            "without --cuda-graph"
        )

    def end_capture(self) -> Any:  # pragma: no cover - begin_capture refuses first
        """Never reached: :meth:`begin_capture` refuses first."""
        raise AssertionError("trt_panoptic.engine.cuda: pycuda capture not supported")

    def abort_capture(self) -> None:  # pragma: no cover - begin_capture refuses first
        """Nothing to end: no capture is ever begun."""

    def launch_graph(self, graph: Any) -> None:  # pragma: no cover
        """Never reached: :meth:`begin_capture` refuses first."""
        raise AssertionError("trt_panoptic.engine.cuda: pycuda capture not supported")

    def destroy_graph(self, graph: Any) -> None:  # pragma: no cover
        """Nothing to free: no graph is ever captured."""
        pass

    def close(self) -> None:
        """Pop the primary context pushed by the constructor; later calls do nothing."""
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


def device_memory() -> tuple[int, int] | None:
    """(free, total) bytes of device 0's memory, or None when no CUDA binding can tell."""
    try:
        backend = load_cuda_backend()
    except TrtPanopticError:
        return None
    try:
        return backend.memory_info()
    finally:
        backend.close()


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
