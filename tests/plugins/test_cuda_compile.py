"""The CUDA kernels compile with nvcc for Jetson Orin (sm_87), Ada (sm_89) and Hopper (sm_90 + PTX).

Only compilation is checked here (no GPU on CI); benchmarks/gpu_check.sh runs them on a GPU. The objects
come from the session fixture ``cuda_objects`` (about 5 s of nvcc), which the header test links too.
"""
from __future__ import annotations

import pytest

from trt_panoptic.plugins import build

pytestmark = pytest.mark.skipif(build.find_nvcc() is None, reason="nvcc not installed: CUDA kernels not compiled")


def test_kernels_compile_for_orin_ada_hopper(cuda_objects):
    assert [o.name for o in cuda_objects] == ["roi_align_fpn.o", "semantic_upsample_argmax.o", "panoptic_fusion.o"]
    for obj in cuda_objects:
        data = obj.read_bytes()
        for arch in ("87", "89", "90"):
            # each embedded cubin records the ptxas command that produced it
            assert f"-arch sm_{arch} ".encode() in data, f"{obj.name} lacks SASS for sm_{arch}"


def test_gencode_flags_add_ptx_for_the_newest_arch():
    assert build.nvcc_gencode_flags(("87", "90")) == [
        "-gencode", "arch=compute_87,code=sm_87", "-gencode", "arch=compute_90,code=[sm_90,compute_90]"]
