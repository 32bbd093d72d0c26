#!/usr/bin/env python
"""GMACs, activation memory and params of the backbone variants at 2 megapixels (the paper's comparison).

Counts on meta tensors (exact shapes, no arithmetic), so R101 at 1024x2048 takes seconds on any CPU.
Writes benchmarks/results/flops_r{50,101}_{H}x{W}.{json,md,png}.

    python benchmarks/flops.py [--depths 50 101] [--height 1024 --width 2048]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from trt_panoptic.bench import compare, report

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", type=int, nargs="+", default=[50, 101])
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    machine = report.machine_info()
    for depth in args.depths:
        result = compare.flops_comparison(depth=depth, height=args.height, width=args.width)
        result["machine"] = machine
        stem = args.out / f"flops_r{depth}_{args.height}x{args.width}"
        table = compare.flops_markdown(result) + "\n" + report.machine_line(machine) + "\n"
        report.write_json(stem.with_suffix(".json"), result)
        report.write_text(stem.with_suffix(".md"), table)
        parts = {n: {p: v[f"gmacs_{p}"] for p in compare.PARTS} for n, v in result["variants"].items()}
        report.plot_variants(stem.with_suffix(".png"), gmacs=parts,
                             title=f"ResNet-{depth}, {args.height}x{args.width}: GMACs per variant (backbone/decoder/head)")
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
