"""``trt-panoptic bench flops|latency``: the paper's FPN-vs-dilated comparison, GMACs/memory and latency.

Examples::

    trt-panoptic bench flops --depth 101 --height 1024 --width 2048 --json out/flops_r101.json
    trt-panoptic bench latency --backend torch --precision fp32 --variants fpn dilated16 dilated8 \\
        --depth 50 --height 512 --width 1024 --iterations 5 --json out/latency_cpu.json

Each writes the JSON and, beside it, a Markdown table (``.md``) and a plot (``.png``), and prints the table.
"""
from __future__ import annotations

import argparse

# From config (torch-free) rather than modeling, so `trt-panoptic --help` does not load torch.
from trt_panoptic.config import BACKBONE_VARIANTS as VARIANTS


def register(subparsers: argparse._SubParsersAction) -> None:
    from trt_panoptic.runtime.factory import BACKBONE_BACKENDS

    parser = subparsers.add_parser("bench", help="benchmark the backbone variants: GMACs/memory and latency")
    sub = parser.add_subparsers(dest="bench_command", metavar="{flops,latency}", required=True)

    def common(p: argparse.ArgumentParser, depth: int, height: int, width: int) -> None:
        p.add_argument("--depth", type=int, default=depth, choices=(18, 34, 50, 101), help="ResNet depth (default: %(default)s)")
        p.add_argument("--height", type=int, default=height, help="input height, multiple of 32 (default: %(default)s)")
        p.add_argument("--width", type=int, default=width, help="input width, multiple of 32 (default: %(default)s)")
        p.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="NAME",
                       help=f"backbone variants, among {' '.join(VARIANTS)} (default: all)")
        p.add_argument("--num-classes", type=int, default=19, help="classifier outputs (default: 19, Cityscapes)")
        p.add_argument("--width-mult", type=float, default=1.0, help="ResNet channel multiplier (default: 1.0; CPU-sized models: 0.25-0.5)")
        p.add_argument("--json", required=True, metavar="OUT", help="result JSON; .md and .png are written beside it")
        p.add_argument("--no-plot", action="store_true", help="skip the PNG")

    flops = sub.add_parser("flops", help="multiply-adds, activation memory and params per variant (no compute: meta tensors)",
                           description="Count multiply-adds, activation memory and parameters of each backbone variant "
                                       "(plain, dilated, encoder-decoder, FPN) on meta tensors: nothing is computed.")
    common(flops, 101, 1024, 2048)
    flops.set_defaults(func=run)

    latency = sub.add_parser("latency", help="latency per variant on one backend, variants side by side",
                             description="Time each backbone variant on one backend, the variants interleaved so that "
                                         "machine noise hits them alike.")
    common(latency, 50, 512, 1024)
    latency.add_argument("--backend", default="torch", choices=BACKBONE_BACKENDS, help="(default: torch)")
    latency.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"), help="(default: fp32)")
    latency.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="(default: cpu)")
    latency.add_argument("--warmup", type=int, default=2, help="untimed iterations per variant (default: 2)")
    latency.add_argument("--iterations", type=int, default=10, help="timed iterations per variant (default: 10)")
    latency.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    latency.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.atomic_io import check_output_file
    from trt_panoptic.bench import compare, report
    from trt_panoptic.errors import TrtPanopticError
    from trt_panoptic.modeling.backbone.variants import VariantSpec

    if args.num_classes < 1:
        raise TrtPanopticError(f"--num-classes should be at least 1, got {args.num_classes} — e.g. 19 (Cityscapes)")
    if not args.width_mult > 0:
        raise TrtPanopticError(f"--width-mult should be > 0, got {args.width_mult} — e.g. 1.0, or 0.25-0.5 on a CPU")
    spec = VariantSpec(num_classes=args.num_classes, width_mult=args.width_mult)
    out = check_output_file(args.json, "--json")
    if args.bench_command == "flops":
        result = compare.flops_comparison(depth=args.depth, height=args.height, width=args.width,
                                          variants=args.variants, spec=spec)
        result["machine"] = report.machine_info()
        table = compare.flops_markdown(result)
        plot = {n: {p: v[f"gmacs_{p}"] for p in compare.PARTS} for n, v in result["variants"].items()}
        title = f"ResNet-{args.depth}, {args.height}x{args.width}: GMACs per variant"
        plot_kwargs = {"gmacs": plot}
    else:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        result = compare.latency_comparison(
            backend=args.backend, precision=args.precision, variants=args.variants, depth=args.depth,
            height=args.height, width=args.width, warmup=args.warmup, iterations=args.iterations,
            device=args.device, spec=spec,
        )
        table = compare.latency_markdown(result)
        plot_kwargs = {"latency_ms": {n: {"median": s["median_ms"], "p90": s["p90_ms"]}
                                      for n, s in result["variants"].items()}}
        title = f"{args.backend} {args.precision} {args.device}, ResNet-{args.depth}, {args.height}x{args.width}"
    table += "\n" + report.machine_line(result["machine"]) + "\n"
    report.write_json(out, result)
    report.write_text(out.with_suffix(".md"), table)
    if not args.no_plot:
        report.plot_variants(out.with_suffix(".png"), title=title, **plot_kwargs)
    print(table)
    return 0
