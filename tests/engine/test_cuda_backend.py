"""The cuda-python backend of the runner over a host-memory stand-in of ``cuda.bindings.runtime``:
pinned-buffer views, copies by raw pointer, error reporting, and argument counts that match the table
checked against the real cuda-python in test_api_surface.py."""
import ctypes
import enum
import importlib.util

import numpy as np
import pytest

from trt_panoptic.engine.cuda import CUDA_RUNTIME_API, CudaPythonBackend, load_cuda_backend
from trt_panoptic.errors import TrtPanopticError


class Err(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2


class FakeRuntime:
    """Host memory behind int pointers; every call is recorded with its argument count."""

    cudaError_t = Err

    class cudaMemcpyKind:
        cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost = 1, 2

    class cudaStreamCaptureMode:
        cudaStreamCaptureModeGlobal = 0

    def __init__(self, fail_malloc=False):
        self.buffers, self.calls, self.fail_malloc = {}, [], fail_malloc

    def __getattr__(self, name):
        impl = object.__getattribute__(self, "_" + name)

        def call(*args):
            self.calls.append((name, len(args)))
            return impl(*args)

        return call

    def _alloc(self, n):
        buf = ctypes.create_string_buffer(n)
        self.buffers[ctypes.addressof(buf)] = buf
        return ctypes.addressof(buf)

    def _cudaMalloc(self, n):
        return (Err.cudaErrorMemoryAllocation, None) if self.fail_malloc else (Err.cudaSuccess, self._alloc(n))

    _cudaMallocHost = _cudaMalloc

    def _cudaFree(self, ptr):
        del self.buffers[ptr]
        return (Err.cudaSuccess,)

    _cudaFreeHost = _cudaFree

    def _cudaStreamCreate(self):
        return (Err.cudaSuccess, 5)

    def _cudaStreamDestroy(self, stream):
        return (Err.cudaSuccess,)

    _cudaStreamSynchronize = _cudaStreamDestroy

    def _cudaMemcpyAsync(self, dst, src, count, kind, stream):
        ctypes.memmove(dst, src, count)
        return (Err.cudaSuccess,)

    def _cudaGetDevice(self):
        return (Err.cudaSuccess, 0)

    def _cudaGetDeviceProperties(self, device):
        class Prop:
            name, major, minor = b"Orin\x00\x00\x00", 8, 7

        return (Err.cudaSuccess, Prop())


def test_pinned_views_and_roundtrip():
    rt = FakeRuntime()
    cuda = CudaPythonBackend(rt)
    assert cuda.device_info() == ("Orin", "8.7")
    host = cuda.host_empty((2, 3, 5), np.float16)
    assert host.shape == (2, 3, 5) and host.dtype == np.float16
    assert host.ctypes.data in rt.buffers  # the numpy array *is* the pinned allocation
    host[...] = np.arange(30, dtype=np.float16).reshape(2, 3, 5)
    device = cuda.malloc(host.nbytes)
    cuda.copy_to_device_async(device, host)
    back = cuda.host_empty((2, 3, 5), np.float16)
    cuda.copy_to_host_async(back, device)
    cuda.synchronize()
    np.testing.assert_array_equal(back, host)
    cuda.host_free(host), cuda.host_free(back), cuda.free(device), cuda.close()
    assert rt.buffers == {}
    for name, nargs in rt.calls:  # the same arity the real-bindings check pins
        assert CUDA_RUNTIME_API[name] == nargs, name


def test_cuda_error_is_one_line():
    cuda = CudaPythonBackend(FakeRuntime(fail_malloc=True))
    with pytest.raises(TrtPanopticError, match="cudaMalloc should succeed, got cudaErrorMemoryAllocation"):
        cuda.malloc(1024)


@pytest.mark.skipif(importlib.util.find_spec("cuda") is not None or importlib.util.find_spec("pycuda") is not None,
                    reason="a CUDA binding is installed here")
def test_no_binding_names_the_package():
    with pytest.raises(TrtPanopticError, match="pip install cuda-python"):
        load_cuda_backend()
