#!/usr/bin/env python
"""CPU latency of the backbone variants side by side (one run, interleaved), next to their GMACs.

Writes benchmarks/results/latency_cpu_{backend}_r{D}_{H}x{W}_threads{T}.{json,md,png}. Keep runs short on shared
machines: the defaults (R50, 512x1024, 1 warm-up + 5 timed rounds) take a few minutes on 2 cores.

    python benchmarks/latency_cpu.py [--backend torch|onnxruntime] [--depth 50] [--height 512 --width 1024]
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch

from trt_panoptic.bench import compare, report
from trt_panoptic.modeling.backbone.variants import VARIANTS

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    flops = compare.flops_comparison(depth=args.depth, height=args.height, width=args.width, variants=args.variants)
    result = compare.latency_comparison(backend=args.backend, precision="fp32", device="cpu", variants=args.variants,
                                        depth=args.depth, height=args.height, width=args.width,
                                        warmup=args.warmup, iterations=args.iterations)
    gmacs = {n: v["gmacs"] for n, v in flops["variants"].items()}
    result["gmacs"] = gmacs
    result["activations_mb"] = {n: v["activations_mb"] for n, v in flops["variants"].items()}
    result["machine"]["load_average_1min_before"] = load_before
    # Does measured time follow the GMACs order? (the issue: CPU latency ratios should follow it). On a
    # shared machine the minimum is the statistic least disturbed by other processes; report both.
    by_gmacs = sorted(gmacs, key=gmacs.get)
    by_median = sorted(result["variants"], key=lambda n: result["variants"][n]["median_ms"])
    by_min = sorted(result["variants"], key=lambda n: result["variants"][n]["min_ms"])
    result["latency_order_follows_gmacs"] = {"median": by_gmacs == by_median, "min": by_gmacs == by_min}
    stem = args.out / f"latency_cpu_{args.backend}_r{args.depth}_{args.height}x{args.width}_threads{torch.get_num_threads()}"
    table = compare.latency_markdown(result, gmacs=gmacs)
    same = result["latency_order_follows_gmacs"]
    table += (f"\nOrder by GMACs: {' < '.join(by_gmacs)}.\n"
              f"Order by median latency: {' < '.join(by_median)} ({'same' if same['median'] else 'different'}).\n"
              f"Order by min latency: {' < '.join(by_min)} ({'same' if same['min'] else 'different'}).\n"
              f"1-min load average before/after: {load_before:.1f} / {result['machine']['load_average_1min_after']:.1f} "
              f"on {os.cpu_count()} cores (other jobs share this machine).\n")
    table += "\n" + report.machine_line(result["machine"]) + "\n"
    report.write_json(stem.with_suffix(".json"), result)
    report.write_text(stem.with_suffix(".md"), table)
    parts = {n: {p: v[f"gmacs_{p}"] for p in compare.PARTS} for n, v in flops["variants"].items()}
    lat = {n: {"median": s["median_ms"], "p90": s["p90_ms"]} for n, s in result["variants"].items()}
    report.plot_variants(stem.with_suffix(".png"), gmacs=parts, latency_ms=lat,
                         title=f"{args.backend} fp32 CPU, ResNet-{args.depth}, {args.height}x{args.width}")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
