"""``trt-panoptic calibrate``: INT8 calibration of an exported ONNX → Q/DQ ONNX (+ TensorRT calibration cache).

Examples::

    trt-panoptic calibrate --onnx model.onnx --data synthetic --method entropy --num-images 256 --out model.int8.onnx
    trt-panoptic calibrate --onnx model.onnx --data clip.mp4 --every-k 15 --out model.int8.onnx --cache calib.cache
    trt-panoptic calibrate --onnx model.onnx --data frames/ --recipe calibration/percentile.yaml --out model.int8.onnx
    trt-panoptic calibrate --onnx model.onnx --from-cache calib.cache --out model.int8.onnx

The Q/DQ ONNX runs on ONNX Runtime (``trt-panoptic eval --backend onnxruntime --model model.int8.onnx``)
and builds an INT8 TensorRT engine on 10.x and 11.x; the cache serves TensorRT 10.x's legacy
implicit-quantization path (``trtexec --int8 --calib=calib.cache`` with the *float* ONNX).
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("calibrate", help="INT8 calibration → Q/DQ ONNX (+ TensorRT calibration cache)",
                              description="Calibrate an exported ONNX for INT8 and write the explicitly quantized (Q/DQ) ONNX.")
    p.add_argument("--onnx", required=True, help="the float ONNX from trt-panoptic export (either flavour; "
                                                  "the TensorRT flavour's plugin ops run through their host build)")
    p.add_argument("--data", help="calibration images: a folder, a video file, or synthetic[:SEED]")
    p.add_argument("--out", required=True, help="output Q/DQ .onnx path")
    p.add_argument("--recipe", help="YAML recipe (calibration/*.yaml); flags given here override it")
    p.add_argument("--method", help="minmax | percentile | entropy | mse (default entropy)")
    p.add_argument("--num-images", type=int, help="calibration images (default 256)")
    p.add_argument("--percentile", type=float, help="for --method percentile, in percent (default 99.99)")
    p.add_argument("--every-k", type=int, help="video: use every k-th frame (default 10)")
    p.add_argument("--skip", action="append", metavar="GLOB",
                   help="keep nodes whose name or weight matches GLOB in float (repeatable; replaces the default "
                        "skip list; --skip none quantizes everything)")
    p.add_argument("--convtranspose-axis", type=int, choices=(0, 1), help="ConvTranspose weight-scale axis (default 0, as TensorRT)")
    p.add_argument("--cache", help="also write a TensorRT calibration cache here (TensorRT 10.x legacy path)")
    p.add_argument("--trt-version", default="10.3.0", help="TensorRT version in the cache header (default 10.3.0)")
    p.add_argument("--from-cache", help="make the Q/DQ ONNX from this calibration cache instead of calibrating")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.atomic_io import check_output_file
    from trt_panoptic.export.exporter import load_onnx, save_onnx
    from trt_panoptic.quantization.cache import check_cache_matches, read_cache, write_cache
    from trt_panoptic.quantization.pipeline import (
        CalibrationRecipe, cache_scales, calibrate, load_recipe, quantized_model, recipe_with,
    )
    from trt_panoptic.quantization.qdq import name_nodes, plan_quantization

    recipe = load_recipe(args.recipe) if args.recipe else CalibrationRecipe()
    skip = None
    if args.skip:
        skip = [] if [s.lower() for s in args.skip] == ["none"] else list(args.skip)
    recipe = recipe_with(recipe, method=args.method, num_images=args.num_images, percentile=args.percentile,
                         every_k=args.every_k, skip=skip, convtranspose_axis=args.convtranspose_axis)
    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        logger.info("calibrate: --out %s → %s (ONNX files end in .onnx)", out, out.with_suffix(".onnx"))
        out = out.with_suffix(".onnx")
    check_output_file(out, "--out")
    if args.cache:
        check_output_file(args.cache, "--cache")
    model = load_onnx(args.onnx)
    if any(o.op_type in ("QuantizeLinear", "DequantizeLinear") for o in model.graph.node):
        raise TrtPanopticError(f"--onnx should be a float ONNX, got {args.onnx} which already has Q/DQ nodes — pass the exported model")
    start = time.perf_counter()
    if args.from_cache:
        cache = read_cache(args.from_cache)
        name_nodes(model)
        check_cache_matches(cache, model, source=args.from_cache)
        plan = plan_quantization(model, recipe.skip)
        amax = cache.amax()
        missing = [t for t in plan.activations if t not in amax]
        if missing:
            raise TrtPanopticError(f"{args.from_cache} should give a scale for every quantized tensor, got none for "
                                   f"{missing[0]!r} ({len(missing)} missing) — recalibrate, or match its skip list")
        qmodel = quantized_model(model, plan, amax, recipe, {"from_cache": str(args.from_cache)})
        used = 0
    else:
        if not args.data:
            raise TrtPanopticError("--data should name calibration images (folder, video or synthetic), got nothing — or pass --from-cache")
        result = calibrate(model, args.data, recipe)
        qmodel, plan, amax, used = result.model, result.plan, result.amax, result.num_images
    save_onnx(qmodel, out)
    logger.info("calibrate: %s, %d images, %d Conv/Gemm nodes + %d residual adds in INT8, %d kept in float → %s (%.1f s)",
             recipe.method if not args.from_cache else "from cache", used, len(plan.nodes), len(plan.residual_adds),
             len(plan.skipped), out, time.perf_counter() - start)
    if args.cache:
        path = write_cache(args.cache, cache_scales(plan, amax), args.trt_version)
        logger.info("calibrate: TensorRT %s calibration cache (%d tensors) → %s", args.trt_version, len(plan.cache_tensors), path)
    print(out)
    return 0
