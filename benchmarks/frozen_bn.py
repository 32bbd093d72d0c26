#!/usr/bin/env python
"""FrozenBN at inference: one ``batch_norm`` kernel against the explicit multiply + add, in the R50 backbone.

The R50-FPN COCO config (FrozenBN, random weights: the cost does not depend on them) at 1×3×736×1280, the
backbone + FPN forward under ``torch.no_grad``; the two FrozenBN forms alternate round by round in one process,
so machine noise hits both. Writes benchmarks/results/frozen_bn.{json,md}.

    python benchmarks/frozen_bn.py [--rounds 5] [--threads 2] [--height 736 --width 1280]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from statistics import median

import torch

from trt_panoptic.bench.report import machine_info, machine_line, markdown_table, write_json, write_text
from trt_panoptic.config import load_config
from trt_panoptic.modeling import build_model
from trt_panoptic.modeling.layers import FrozenBatchNorm2d

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--height", type=int, default=736)
    p.add_argument("--width", type=int, default=1280)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = build_model(load_config("r50_fpn_coco")).eval()
    gen = torch.Generator().manual_seed(1)
    for bn in (m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)):  # not the identity it starts as
        for name in ("weight", "bias", "running_mean"):
            getattr(bn, name).copy_(torch.randn(bn.num_features, generator=gen) * 0.1 + (name == "weight"))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
    x = torch.randn(1, 3, args.height, args.width, generator=torch.Generator().manual_seed(0))
    fused = FrozenBatchNorm2d.forward
    forms = {"batch_norm (one kernel)": fused, "multiply + add": lambda self, t: self.affine(t)}
    times: dict[str, list[float]] = {name: [] for name in forms}
    outputs = {}
    with torch.no_grad():
        model.backbone(x)  # warm-up
        for _ in range(args.rounds):
            for name, forward in forms.items():
                FrozenBatchNorm2d.forward = forward
                t0 = time.perf_counter()
                outputs[name] = model.backbone(x)
                times[name].append(time.perf_counter() - t0)
    FrozenBatchNorm2d.forward = fused
    a, b = (outputs[n] for n in forms)
    max_rel = max(float(((a[k] - b[k]).abs().max() / b[k].abs().max())) for k in a)
    rows = [{"form": n, "median_ms": 1e3 * median(t), "min_ms": 1e3 * min(t)} for n, t in times.items()]
    ratio = rows[1]["median_ms"] / rows[0]["median_ms"]
    ratio_min = rows[1]["min_ms"] / rows[0]["min_ms"]
    info = machine_info()
    result = {"benchmark": "frozen_bn", "model": "R50-FPN COCO config, random weights", "part": "backbone + FPN",
              "input": [args.height, args.width], "rounds": args.rounds, "threads": args.threads, "rows": rows,
              "speedup": round(ratio, 3), "speedup_of_minima": round(ratio_min, 3), "max_relative_difference": max_rel, "machine": info,
              "load_average": os.getloadavg()}
    write_json(RESULTS / "frozen_bn.json", result)
    write_text(RESULTS / "frozen_bn.md", "\n".join([
        f"# FrozenBN at inference, R50 backbone + FPN, 1x3x{args.height}x{args.width}, {args.threads} threads\n",
        markdown_table(rows, [("form", "FrozenBN as", ""), ("median_ms", "median ms", ".1f"), ("min_ms", "min ms", ".1f")]),
        f"\nThe explicit form takes {ratio:.2f}x the one kernel's time (medians of {args.rounds} alternating rounds; "
        f"{ratio_min:.2f}x comparing the fastest rounds); outputs "
        f"agree to {max_rel:.1e} relative (FrozenBN statistics randomized).\n",
        f"{machine_line(info)}; load average {os.getloadavg()[0]:.1f} at the end.\n"]))
    print(f"speed-up {ratio:.3f}x (medians), {ratio_min:.3f}x (minima), max relative difference {max_rel:.2e}")


if __name__ == "__main__":
    main()
