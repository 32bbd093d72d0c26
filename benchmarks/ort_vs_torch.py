#!/usr/bin/env python
"""ONNX Runtime (portable ONNX, CPU provider) vs PyTorch eager on the CPU: median latency and ratio.

Models: the bundled r18_fpn_tiny (falls back to an untrained one, marked as such, when the bundled
weights are absent) and an untrained R50-FPN (COCO config; latency does not need trained weights, but
detection counts do change the post-NMS work, so both backends run the same weights on the same image).
Both run the same Predictor path (letterbox → model → shared mask pasting + fusion); we time the full
``predict`` and the model alone (torch: ``PanopticFPN.forward``; ORT: ``session.run``), interleaved.

    python benchmarks/ort_vs_torch.py [--size 512] [--iterations 5] [--threads 0]

Writes benchmarks/results/ort_vs_torch_{H}x{W}.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from trt_panoptic.bench.latency import summarize
from trt_panoptic.bench.report import machine_info, machine_line
from trt_panoptic.config import load_config
from trt_panoptic.data.synthetic import default_categories, render_scene
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export import export_onnx
from trt_panoptic.modeling import build_model
from trt_panoptic.modeling.checkpoint import load_model
from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor
from trt_panoptic.runtime.torch_backend import TorchPredictor

RESULTS = Path(__file__).resolve().parent / "results"


def models(weights: str | None) -> list[tuple[str, object, object]]:
    try:
        model, cfg = load_model(weights)
        name = f"r18_fpn_tiny ({'bundled' if weights is None else Path(weights).name})"
    except TrtPanopticError:
        cfg = load_config("r18_fpn_tiny")
        model, name = build_model(cfg).eval(), "r18_fpn_tiny (untrained: bundled weights absent)"
    r50_cfg = load_config("r50_fpn_coco")
    return [(name, model, cfg), ("R50-FPN COCO (untrained)", build_model(r50_cfg).eval(), r50_cfg)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="checkpoint of the small model (default: the bundled model)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="threads for both backends (0: their defaults)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    s = args.size
    image, _, _ = render_scene(np.random.default_rng(0), s, s, default_categories())
    load_before = os.getloadavg()[0]
    rows = []
    for name, model, cfg in models(args.weights):
        t = time.perf_counter()
        ort_pred = OnnxRuntimePredictor(export_onnx(model, cfg, height=s, width=s), threads=args.threads or None)
        export_s = time.perf_counter() - t
        torch_pred = TorchPredictor(model, cfg, s, s)
        x, _ = torch_pred.prepare(image)
        timed = {"torch_predict": lambda: torch_pred.predict(image), "ort_predict": lambda: ort_pred.predict(image),
                 "torch_model": lambda: torch_pred.forward(x), "ort_model": lambda: ort_pred.forward(x)}
        for fn in timed.values():
            for _ in range(args.warmup):
                fn()
        samples = {k: [] for k in timed}
        for _ in range(args.iterations):  # interleaved: load spikes hit both backends alike
            for k, fn in timed.items():
                t0 = time.perf_counter()
                fn()
                samples[k].append((time.perf_counter() - t0) * 1000)
        stats = {k: summarize(v).to_dict() for k, v in samples.items()}
        n_det = int(ort_pred.forward(x)["num_detections"][0])
        rows.append({"model": name, "export_s": export_s, "detections": n_det, "stats": stats,
                     "ratio_predict": stats["torch_predict"]["median_ms"] / stats["ort_predict"]["median_ms"],
                     "ratio_model": stats["torch_model"]["median_ms"] / stats["ort_model"]["median_ms"]})
        logging.info("%s: torch %.0f ms, ORT %.0f ms (predict medians)", name, stats["torch_predict"]["median_ms"], stats["ort_predict"]["median_ms"])
    info = machine_info()
    info["load_average_1min_before"] = load_before
    info["load_average_1min_after"] = os.getloadavg()[0]
    out = {"size": [s, s], "warmup": args.warmup, "iterations": args.iterations, "threads": args.threads, "machine": info, "models": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"ort_vs_torch_{s}x{s}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2, default=str))
    lines = [f"# ONNX Runtime vs PyTorch eager, CPU, {s}x{s}, batch 1", "", machine_line(info), "",
             "| model | torch predict median ms | ORT predict median ms | speed-up | torch model median ms | ORT model median ms | speed-up | detections |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["stats"]
        lines.append(f"| {r['model']} | {st['torch_predict']['median_ms']:.1f} | {st['ort_predict']['median_ms']:.1f} | {r['ratio_predict']:.2f}x | "
                     f"{st['torch_model']['median_ms']:.1f} | {st['ort_model']['median_ms']:.1f} | {r['ratio_model']:.2f}x | {r['detections']} |")
    lines += ["", f"{args.warmup} warm-up + {args.iterations} timed iterations per backend, interleaved; 'predict' = letterbox + model + "
              "mask pasting + panoptic fusion (same host code for both), 'model' = the network alone (torch eager "
              "PanopticFPN.forward includes its own pasting/fusion; ORT session.run does not).",
              f"1-min load average before/after: {load_before:.1f} / {info['load_average_1min_after']:.1f} (shared machine)."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
