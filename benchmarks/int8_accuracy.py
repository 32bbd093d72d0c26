#!/usr/bin/env python
"""INT8 accuracy: PQ / PQ_th / PQ_st / mIoU of the Q/DQ model for every calibration method against FP32,
and a per-group sensitivity study that justifies the skip list.

Target (issue 7): bundled model, synthetic validation with an unseen seed, PQ drop INT8 vs FP32 ≤ 1.0
point for the best method.

Everything runs on ONNX Runtime (CPU): the FP32 portable ONNX and its Q/DQ versions, through the same
predictor (letterbox → model → decode → fusion) that ``trt-panoptic eval --backend onnxruntime`` uses.
Statistics are collected once (with histograms, all quantizable tensors, empty skip list) and every
method's thresholds come from them, so the methods are compared on the same measurements.

Writes benchmarks/results/int8_accuracy.{json,md}.

``--fp16`` measures INT8 composed with FP16 instead (what TensorRT 11.x builds, and 10.x from the same ONNX):
the FP16-typed export (opset 19, FP32 islands for normalization and box math), and its Q/DQ versions with
FP16 scales, statistics taken on the FP16 graph itself; rows fp32 / fp16 / int8+fp16 per method, written
to benchmarks/results/int8_fp16_accuracy.{json,md}.

    python benchmarks/int8_accuracy.py [--weights CKPT] [--size 256] [--val-images 100 --val-seed 2026]
        [--calib synthetic:77 --calib-images 256] [--sensitivity-images 50] [--methods minmax,percentile,entropy,mse]
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
log = logging.getLogger("int8_accuracy")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", help="checkpoint (default: the bundled model)")
    p.add_argument("--size", type=int, default=256, help="square export size in pixels (default 256)")
    p.add_argument("--val-images", type=int, default=100, help="synthetic validation images (default 100)")
    p.add_argument("--val-seed", type=int, default=2026, help="validation seed, unseen in training/calibration (default 2026)")
    p.add_argument("--val-data", help="use this COCO panoptic folder instead of synthesizing one")
    p.add_argument("--calib", default="synthetic:77", help="calibration source (default synthetic:77)")
    p.add_argument("--calib-images", type=int, default=256, help="calibration images (default 256)")
    p.add_argument("--percentile", type=float, default=99.99)
    p.add_argument("--methods", default="minmax,percentile,entropy,mse")
    p.add_argument("--sensitivity-images", type=int, default=50, help="validation images per sensitivity row; 0 = skip the study")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = default)")
    p.add_argument("--fp16", action="store_true", help="INT8 on the FP16-typed export (rows fp32 / fp16 / int8+fp16)")
    p.add_argument("--out", default=None, help="output path without suffix (default results/int8_accuracy, "
                                               "results/int8_fp16_accuracy with --fp16)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from trt_panoptic.bench.report import machine_info, machine_line, markdown_table, write_json, write_text
    from trt_panoptic.export.exporter import export_onnx
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.quantization.calib_data import CalibrationImages
    from trt_panoptic.quantization.pipeline import (
        CalibrationRecipe, collect_calibration_stats, model_input_size, model_pixel_mean, model_takes_rgb, quantized_model,
        thresholds,
    )
    from trt_panoptic.quantization.qdq import DEFAULT_SKIP, name_nodes, plan_quantization
    from trt_panoptic.quantization.sensitivity import DEFAULT_GROUPS, group_models

    t_start = time.perf_counter()
    model_t, cfg = load_model(args.weights)
    fp32 = export_onnx(model_t, cfg, height=args.size, width=args.size)
    name_nodes(fp32)
    threads = args.threads or None
    if args.fp16:
        return fp16_study(args, model_t, cfg, fp32, t_start)

    def evaluate(proto, data, limit=None) -> dict:
        return evaluate_onnx(proto, data, threads, limit)

    with tempfile.TemporaryDirectory(prefix="int8_acc_") as tmp:
        val = validation_data(args, Path(tmp))
        log.info("FP32 baseline on %s", val)
        base = evaluate(fp32, val)
        log.info("FP32: %s", base)

        full_plan = plan_quantization(fp32, skip=())  # every tensor any row below may quantize
        images = CalibrationImages(args.calib, args.calib_images, model_input_size(fp32), model_pixel_mean(fp32),
                                   rgb=model_takes_rgb(fp32))
        t0 = time.perf_counter()
        stats = collect_calibration_stats(fp32, full_plan, images)
        stats_s = time.perf_counter() - t0

        plan = plan_quantization(fp32, DEFAULT_SKIP)
        rows = [{"method": "fp32", **base, "dPQ": 0.0}]
        amax_by_method = {}
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            recipe = CalibrationRecipe(method=method, num_images=len(images), percentile=args.percentile)
            amax = thresholds(stats, method, args.percentile)
            amax_by_method[method] = amax
            metrics = evaluate(quantized_model(fp32, plan, amax, recipe), val)
            rows.append({"method": method if method != "percentile" else f"percentile {args.percentile:g}",
                         **metrics, "dPQ": round(metrics["PQ"] - base["PQ"], 3)})
            log.info("%s: %s", method, rows[-1])
        best = max(rows[1:], key=lambda r: r["PQ"])
        best_method = best["method"].split()[0]

        sens_rows = []
        if args.sensitivity_images > 0:
            n = min(args.sensitivity_images, args.val_images if not args.val_data else args.sensitivity_images)
            base_sub = evaluate(fp32, val, limit=n)
            sens_rows.append({"group": "none (FP32)", "nodes": 0, **base_sub, "dPQ": 0.0})
            all_plan_model = quantized_model(fp32, plan_quantization(fp32, skip=()), amax_by_method[best_method],
                                             CalibrationRecipe(method=best_method, skip=[]))
            m = evaluate(all_plan_model, val, limit=n)
            sens_rows.append({"group": "all (empty skip list)", "nodes": len(full_plan.nodes) + len(full_plan.residual_adds),
                              **m, "dPQ": round(m["PQ"] - base_sub["PQ"], 3)})
            m = evaluate(quantized_model(fp32, plan, amax_by_method[best_method], CalibrationRecipe(method=best_method)), val, limit=n)
            sens_rows.append({"group": "all but the default skip list", "nodes": len(plan.nodes) + len(plan.residual_adds),
                              **m, "dPQ": round(m["PQ"] - base_sub["PQ"], 3)})
            for group, count, qmodel in group_models(fp32, amax_by_method[best_method], DEFAULT_GROUPS):
                m = evaluate(qmodel, val, limit=n)
                sens_rows.append({"group": group, "nodes": count, **m, "dPQ": round(m["PQ"] - base_sub["PQ"], 3)})
                log.info("sensitivity %s: %s", group, sens_rows[-1])

    info = machine_info()
    result = {
        "benchmark": "int8_accuracy",
        "target": "PQ drop INT8 vs FP32 <= 1.0 for the best method",
        "met": abs(min(0.0, best["dPQ"])) <= 1.0,
        "weights": args.weights or "bundled r18_fpn_tiny_synth.pt",
        "input_size": [args.size, args.size],
        "validation": validation_text(args),
        "calibration": f"{args.calib}, {len(images)} images, statistics in {stats_s:.0f} s",
        "skip_list": list(DEFAULT_SKIP),
        "quantized": {"linear_nodes": len(plan.nodes), "residual_adds": len(plan.residual_adds), "kept_float": plan.skipped},
        "rows": rows,
        "best_method": best["method"],
        "sensitivity_method": best_method,
        "sensitivity": sens_rows,
        "machine": info,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    out = Path(args.out or RESULTS / "int8_accuracy")
    write_json(out.with_suffix(".json"), result)
    cols = metric_columns("method")
    md = ["# INT8 accuracy (ONNX Runtime, Q/DQ)\n",
          f"Model: {result['weights']}, {args.size}x{args.size}. Validation: {result['validation']}. "
          f"Calibration: {result['calibration']}.\n",
          f"Skip list (kept in float): {', '.join(f'`{s}`' for s in DEFAULT_SKIP)} — "
          f"{len(plan.nodes)} Conv/Gemm nodes and {len(plan.residual_adds)} residual Adds in INT8, {len(plan.skipped)} nodes float.\n",
          markdown_table(rows, cols),
          f"\nBest method: **{best['method']}**, ΔPQ {best['dPQ']:+.2f} — target ΔPQ ≥ −1.0: "
          f"{'met' if result['met'] else 'NOT met'}.\n"]
    if sens_rows:
        md += [f"\n## Sensitivity ({best_method}; one group in INT8 at a time, first {n} validation images)\n",
               markdown_table(sens_rows, [("group", "INT8 group", ""), ("nodes", "nodes", "d"), ("PQ", "PQ", ".2f"),
                                          ("PQ_th", "PQ_th", ".2f"), ("PQ_st", "PQ_st", ".2f"), ("mIoU", "mIoU", ".2f"),
                                          ("dPQ", "ΔPQ", "+.2f")])]
    md.append(f"\n{machine_line(info)}; wall {result['wall_s']:.0f} s.\n")
    write_text(out.with_suffix(".md"), "\n".join(md))
    log.info("wrote %s.{json,md}", out)
    return 0


def evaluate_onnx(proto, data: Path, threads: int | None, limit: int | None = None) -> dict:
    """PQ, SQ, RQ, PQ_th, PQ_st, mIoU and images/s of an ONNX on ONNX Runtime, through ``trt-panoptic eval``'s
    predictor."""
    from trt_panoptic.evaluation.evaluator import evaluate_predictor
    from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor

    pred = OnnxRuntimePredictor(proto, providers=["CPUExecutionProvider"], threads=threads)
    m = evaluate_predictor(pred, data, limit=limit, progress=False)
    return {k: round(float(m[k]), 3) for k in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU")} | {
        "images_per_s": round(float(m["images_per_s"]), 2)}


def validation_data(args: argparse.Namespace, tmp: Path) -> Path:
    """``--val-data``, or the synthetic validation images of an unseen seed written under ``tmp``."""
    from trt_panoptic.data.synthetic import generate_synthetic_dataset

    if args.val_data:
        return Path(args.val_data)
    return generate_synthetic_dataset(tmp / "val", args.val_images, seed=args.val_seed, size=(args.size, args.size),
                                      progress=False)


def validation_text(args: argparse.Namespace) -> str:
    return str(args.val_data) if args.val_data else f"synthetic, seed {args.val_seed}, {args.val_images} images"


def metric_columns(first: str) -> list[tuple[str, str, str]]:
    """The markdown table's columns: ``first`` (the row's name), PQ, PQ_th, PQ_st, mIoU, ΔPQ vs FP32."""
    return [(first, first, ""), ("PQ", "PQ", ".2f"), ("PQ_th", "PQ_th", ".2f"), ("PQ_st", "PQ_st", ".2f"),
            ("mIoU", "mIoU", ".2f"), ("dPQ", "ΔPQ vs FP32", "+.2f")]


def fp16_study(args: argparse.Namespace, model_t, cfg, fp32, t_start: float) -> int:
    """fp32 / fp16 / int8+fp16 rows on the same validation images (see the module docstring)."""
    from trt_panoptic.bench.report import machine_info, machine_line, markdown_table, write_json, write_text
    from trt_panoptic.export.exporter import export_onnx
    from trt_panoptic.quantization.calib_data import CalibrationImages
    from trt_panoptic.quantization.pipeline import (
        CalibrationRecipe, collect_calibration_stats, model_input_size, model_pixel_mean, model_takes_rgb, quantized_model,
        thresholds,
    )
    from trt_panoptic.quantization.qdq import DEFAULT_SKIP, FP16_QDQ_OPSET, name_nodes, plan_quantization

    fp16 = export_onnx(model_t, cfg, height=args.size, width=args.size, fp16=True, opset=FP16_QDQ_OPSET)
    name_nodes(fp16)

    def evaluate(proto, data) -> dict:
        return evaluate_onnx(proto, data, args.threads or None)

    with tempfile.TemporaryDirectory(prefix="int8_fp16_") as tmp:
        val = validation_data(args, Path(tmp))
        base = evaluate(fp32, val)
        rows = [{"model": "fp32", **base, "dPQ": 0.0}]
        half = evaluate(fp16, val)
        rows.append({"model": "fp16 (FP16-typed export)", **half, "dPQ": round(half["PQ"] - base["PQ"], 3)})
        log.info("fp32 %s; fp16 %s", base, half)
        plan = plan_quantization(fp16, DEFAULT_SKIP)
        images = CalibrationImages(args.calib, args.calib_images, model_input_size(fp16), model_pixel_mean(fp16),
                                   rgb=model_takes_rgb(fp16))
        t0 = time.perf_counter()
        stats = collect_calibration_stats(fp16, plan, images)
        stats_s = time.perf_counter() - t0
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            recipe = CalibrationRecipe(method=method, num_images=len(images), percentile=args.percentile)
            metrics = evaluate(quantized_model(fp16, plan, thresholds(stats, method, args.percentile), recipe), val)
            name = method if method != "percentile" else f"percentile {args.percentile:g}"
            rows.append({"model": f"int8+fp16, {name}", **metrics, "dPQ": round(metrics["PQ"] - base["PQ"], 3)})
            log.info("int8+fp16 %s: %s", method, rows[-1])

    info = machine_info()
    result = {
        "benchmark": "int8_fp16_accuracy",
        "weights": args.weights or "bundled r18_fpn_tiny_synth.pt",
        "input_size": [args.size, args.size],
        "validation": validation_text(args),
        "calibration": f"{args.calib}, {len(images)} images on the FP16 graph, statistics in {stats_s:.0f} s",
        "quantized": {"linear_nodes": len(plan.nodes), "residual_adds": len(plan.residual_adds), "kept_float": plan.skipped},
        "rows": rows,
        "machine": info,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    out = Path(args.out or RESULTS / "int8_fp16_accuracy")
    write_json(out.with_suffix(".json"), result)
    cols = metric_columns("model")
    md = ["# INT8 with FP16 (ONNX Runtime, Q/DQ with FP16 scales on the FP16-typed export)\n",
          f"Model: {result['weights']}, {args.size}x{args.size}, opset {FP16_QDQ_OPSET}. Validation: {result['validation']}. "
          f"Calibration: {result['calibration']}. {len(plan.nodes)} Conv/Gemm nodes and {len(plan.residual_adds)} "
          f"residual Adds in INT8; every other layer keeps the export's type (FP16, FP32 islands).\n",
          markdown_table(rows, cols),
          f"\n{machine_line(info)}; wall {result['wall_s']:.0f} s.\n"]
    write_text(out.with_suffix(".md"), "\n".join(md))
    log.info("wrote %s.{json,md}", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
