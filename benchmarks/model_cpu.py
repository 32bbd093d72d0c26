"""PyTorch eager forward of the whole panoptic model on the CPU: parameters and latency.

    python benchmarks/model_cpu.py [--iterations 5] [--threads 2]

R50-FPN (COCO config, 133 classes) at 1×3×800×1344 and the bundled tiny model at 256×256. R50 weights are
random (no COCO checkpoint ships with the project): the backbone/FPN/heads cost is weight-independent, but the
number of detections (and so the RoI-head and mask-pasting cost) is not, so it is reported beside the latency.
Writes benchmarks/results/model_cpu.{json,md}.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from trt_panoptic.bench.latency import summarize, time_host
from trt_panoptic.bench.report import machine_info, machine_line, markdown_table, write_json, write_text
from trt_panoptic.config import load_config
from trt_panoptic.modeling import build_model
from trt_panoptic.modeling.checkpoint import BUNDLED_WEIGHTS, load_model

RESULTS = Path(__file__).resolve().parent / "results"


def bench(name: str, model: torch.nn.Module, height: int, width: int, warmup: int, iterations: int, weights: str) -> dict:
    gen = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=gen)
    with torch.no_grad():
        (out,) = model([image])
        samples, wall = time_host(lambda: model([image]), warmup=warmup, iterations=iterations)
    stats = summarize(samples, wall_s=wall)
    return {
        "model": name, "input": [height, width], "weights": weights,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "detections": int(out["instances"]["boxes"].shape[0]), **stats.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    r50 = build_model(load_config("r50_fpn_coco")).eval()
    rows.append(bench("R50-FPN (r50_fpn_coco)", r50, 800, 1344, args.warmup, args.iterations, "random init"))
    if BUNDLED_WEIGHTS.is_file():
        tiny, _ = load_model()
        weights = "bundled"
    else:
        tiny, weights = build_model(load_config("r18_fpn_tiny")).eval(), "random init"
    rows.append(bench("R18×0.5-FPN (r18_fpn_tiny)", tiny, 256, 256, args.warmup, args.iterations * 4, weights))
    info = machine_info()
    info["torch_threads"] = args.threads
    write_json(RESULTS / "model_cpu.json", {"machine": info, "results": rows})
    table = markdown_table(rows, [
        ("model", "model", ""), ("weights", "weights", ""), ("params_m", "params (M)", ".2f"),
        ("detections", "detections", "d"), ("median_ms", "median ms", ".1f"), ("p90_ms", "p90 ms", ".1f"),
        ("min_ms", "min ms", ".1f"), ("throughput", "images/s", ".2f"), ("iterations", "iters", "d"),
    ])
    sizes = ", ".join(f"{r['model']} at {r['input'][0]}×{r['input'][1]}" for r in rows)
    write_text(RESULTS / "model_cpu.md", f"### PyTorch eager, whole panoptic model, CPU ({args.threads} threads)\n\n{sizes}\n\n{table}\n{machine_line(info)}\n")
    print((RESULTS / "model_cpu.md").read_text())


if __name__ == "__main__":
    main()
