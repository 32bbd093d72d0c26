"""``trt-panoptic build``: ONNX → TensorRT engine (+ JSON sidecar), or with ``--dry-run`` the plan alone.

    trt-panoptic build --onnx model.onnx --precision fp16 --out model.engine --plugins libtrt_panoptic_plugins.so
    trt-panoptic build --onnx model.int8.onnx --precision int8 --out model.engine --dry-run --target-trt 10.3
"""
from __future__ import annotations

import argparse
from pathlib import Path

from trt_panoptic.errors import TrtPanopticError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build",
        help="build a TensorRT engine from an ONNX file",
        description="Build a TensorRT 10.x/11.x engine and its sidecar; prints the equivalent trtexec command.",
    )
    p.add_argument("--onnx", type=Path, required=True, help="ONNX model (FP32, FP16-typed or Q/DQ INT8)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16", help="engine precision (default: fp16)")
    p.add_argument("--out", type=Path, required=True, help="engine file to write (sidecar: <out>.json)")
    p.add_argument("--plugins", type=Path, default=None, help="plugin library, e.g. libtrt_panoptic_plugins.so")
    p.add_argument("--workspace-mb", type=int, default=None, help="workspace memory pool limit in MiB (default: half the GPU memory free when the build starts)")
    p.add_argument("--timing-cache", type=Path, default=None, help="timing cache file, reused and updated")
    p.add_argument("--opt-level", type=int, default=None, help="builder optimization level 0-5 (default 3)")
    p.add_argument("--shape", action="append", default=[], metavar="NAME:DxDxD",
                   help="shape of a dynamic input (repeatable)")
    p.add_argument("--max-batch", type=int, default=1, help="max batch of a dynamic batch dimension, also the batch TensorRT tunes for (the "
                        "stream count of a multi-stream pipeline; default: 1)")
    p.add_argument("--calib-cache", type=Path, default=None,
                   help="TensorRT 10.x legacy INT8: calibration cache for a plain (non-Q/DQ) ONNX")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the trtexec command, build nothing")
    p.add_argument("--target-trt", default=None, metavar="VERSION",
                   help="with --dry-run: plan for this TensorRT (e.g. 10.3 for JetPack 6) instead of the installed one")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.engine.builder import (
        TENSORRT_INSTALL_HINT,
        BuildOptions,
        build_engine,
        installed_trt_version,
        prepare_build,
    )
    from trt_panoptic.engine.onnx_info import parse_shape_arg
    from trt_panoptic.engine.versions import parse_version

    options = BuildOptions(
        onnx=args.onnx, out=args.out, precision=args.precision, plugin=args.plugins,
        workspace_mb=args.workspace_mb, timing_cache=args.timing_cache, opt_level=args.opt_level,
        shapes=dict(parse_shape_arg(s) for s in args.shape), max_batch=args.max_batch,
        calib_cache=args.calib_cache,
    )
    installed = installed_trt_version()
    if args.dry_run:
        version = parse_version(args.target_trt) if args.target_trt else installed
        if version is None:
            raise TrtPanopticError(
                "--dry-run should know the TensorRT version, got none installed and no --target-trt — pass "
                "--target-trt 10.3 (JetPack 6), 10.13 or 11.4"
            )
        prepared = prepare_build(options, version, dry_run=True)
        print(prepared.plan.describe())
        if prepared.fp32_nodes:
            print(f"precision constraints: {len(prepared.fp32_nodes)} ONNX nodes' layers pinned to FP32")
        for text in prepared.warnings:
            print(f"warning: {text}")
        for name, (lo, opt, hi) in prepared.profile.items():
            print(f"optimization profile {name}: min {lo} opt {opt} max {hi}")
        print("equivalent trtexec command:")
        print(f"  {prepared.trtexec}")
        return 0
    if installed is None:
        raise TrtPanopticError(
            f"TensorRT should be installed to build an engine, got none — {TENSORRT_INSTALL_HINT} "
            "(or plan without it: --dry-run --target-trt 10.3)"
        )
    if args.target_trt and not parse_version(args.target_trt).same_release(installed):
        raise TrtPanopticError(
            f"--target-trt {args.target_trt} should match the installed TensorRT {installed} for a real build — "
            "build on the target, or add --dry-run to only print the plan"
        )
    sidecar = build_engine(options)
    print(f"engine: {args.out} (TensorRT {sidecar.tensorrt_version}, {sidecar.gpu_name}, {sidecar.precision})")
    print(f"equivalent trtexec command:\n  {sidecar.trtexec_command}")
    return 0
