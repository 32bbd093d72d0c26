"""Shared fixtures: the host library is built once per session (about 1 s), or the tests skip."""
from __future__ import annotations

import pytest

from trt_panoptic.plugins import build


@pytest.fixture(scope="session")
def host():
    """trt_panoptic.plugins.host with its library built; skips when no C++ compiler is installed."""
    if build.find_cxx() is None:
        pytest.skip("no C++ compiler (c++/g++/clang++) on PATH: the host library cannot be built")
    from trt_panoptic.plugins import host as host_module

    host_module.load_library()
    return host_module


@pytest.fixture(scope="session")
def cuda_objects(tmp_path_factory):
    """Both kernel.cu compiled once by nvcc for sm_87, sm_89, sm_90 + PTX; skips without nvcc."""
    if build.find_nvcc() is None:
        pytest.skip("nvcc not installed: CUDA kernels not compiled")
    return build.compile_cuda_kernels(tmp_path_factory.mktemp("kernels"), archs=("87", "89", "90"), ptx=True)
