"""``trt-panoptic plugins build``: build the plugin libraries from the checkout's ``plugins/`` sources.

Builds the host library of the kernels' math (C++ compiler only; ONNX Runtime runs the TensorRT-flavour
ONNX with it), the CUDA kernels (nvcc, sm_87/89/90 + PTX) and, when TensorRT's headers and libraries are
found, ``libtrt_panoptic_plugins.so`` for TensorRT (CMake). ``--direct`` skips CMake and calls the compilers.
Also reachable as ``python -m trt_panoptic.plugins build``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("plugins", help="build the CUDA/TensorRT plugin libraries and their host library")
    sub = parser.add_subparsers(dest="plugins_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build the plugin libraries")
    b.add_argument("--build-dir", type=Path, default=None, help="default: plugins/build ($TRT_PANOPTIC_PLUGIN_BUILD)")
    b.add_argument("--tensorrt-root", default=None, help="TensorRT root with include/ (and lib/); default: CMake's search")
    b.add_argument("--cuda-archs", default=None,
                   help="comma-separated SM versions, the last also gets PTX (default: plugins/CMakeLists.txt's "
                        "TP_CUDA_ARCHS, 87,89,90)")
    b.add_argument("--host-only", action="store_true", help="only the host library (no nvcc, no TensorRT)")
    b.add_argument("--direct", action="store_true", help="call g++/nvcc directly instead of CMake (no plugin library)")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from trt_panoptic.plugins import build as plugin_build

    archs = tuple(a.strip() for a in args.cuda_archs.split(",") if a.strip()) if args.cuda_archs else None
    start = time.perf_counter()
    if args.direct or args.host_only:
        print(f"host library: {plugin_build.build_host_library(args.build_dir, force=True)}")
        if not args.host_only:
            if plugin_build.find_nvcc() is None:
                print("nvcc not found: CUDA kernels skipped")
            else:
                print(f"CUDA library: {plugin_build.build_cuda_library(args.build_dir, archs)}")
    else:
        notes: list[str] = []
        out = plugin_build.cmake_build(args.build_dir, args.tensorrt_root, archs, notes=notes)
        # CMake's own reasons: the kernels need nvcc; the plugin library needs the kernels and TensorRT's headers
        no_cuda = [n for n in notes if "nvcc not found" in n or "TP_BUILD_CUDA=OFF" in n]
        no_trt = [n for n in notes if "TensorRT headers not found" in n]
        reasons = {"libtrt_panoptic_cuda.so": no_cuda, plugin_build.PLUGIN_LIBRARY_NAME: no_cuda + no_trt}
        for name in ("libtrt_panoptic_host.so", "libtrt_panoptic_cuda.so", plugin_build.PLUGIN_LIBRARY_NAME):
            path = out / name
            why = reasons.get(name) or ["see the output of cmake -S plugins -B <dir>"]
            print(f"{name}: {path}" if path.is_file() else f"{name}: not built — {why[0]}")
        if not (out / plugin_build.PLUGIN_LIBRARY_NAME).is_file():
            fix = ("install the CUDA toolkit (nvcc) or set CUDACXX" if no_cuda else
                   "give --tensorrt-root DIR (the folder with include/NvInferRuntime.h) or set TENSORRT_ROOT")
            print(f"done in {time.perf_counter() - start:.1f} s; the TensorRT plugin library was not built: {fix}, "
                  "or use --host-only when you need no engine")
            return 1
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0
