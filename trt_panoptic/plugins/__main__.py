"""``python -m trt_panoptic.plugins build``: build the host library, the CUDA kernels and, when TensorRT is
found, ``libtrt_panoptic_plugins.so`` (CMake); ``--direct`` skips CMake and calls the compilers directly."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.plugins import build as plugin_build


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trt_panoptic.plugins", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the plugin libraries")
    b.add_argument("--build-dir", type=Path, default=None, help="default: plugins/build ($TRT_PANOPTIC_PLUGIN_BUILD)")
    b.add_argument("--tensorrt-root", default=None, help="TensorRT root with include/ (and lib/); default: CMake's search")
    b.add_argument("--cuda-archs", default=",".join(plugin_build.DEFAULT_CUDA_ARCHS),
                   help="comma-separated SM versions, the last also gets PTX (default: 87,89,90)")
    b.add_argument("--host-only", action="store_true", help="only the host library (no nvcc, no TensorRT)")
    b.add_argument("--direct", action="store_true", help="call g++/nvcc directly instead of CMake (no plugin library)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    archs = tuple(a.strip() for a in args.cuda_archs.split(",") if a.strip())
    start = time.perf_counter()
    try:
        if args.direct or args.host_only:
            lib = plugin_build.build_host_library(args.build_dir, force=True)
            print(f"host library: {lib}")
            if not args.host_only:
                if plugin_build.find_nvcc() is None:
                    print("nvcc not found: CUDA kernels skipped")
                else:
                    print(f"CUDA library: {plugin_build.build_cuda_library(args.build_dir, archs)}")
        else:
            out = plugin_build.cmake_build(args.build_dir, args.tensorrt_root, archs)
            for name in ("libtrt_panoptic_host.so", "libtrt_panoptic_cuda.so", plugin_build.PLUGIN_LIBRARY_NAME):
                path = out / name
                print(f"{name}: {path if path.is_file() else 'not built (see the CMake messages above)'}")
    except TrtPanopticError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
