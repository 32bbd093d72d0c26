"""The paper's backbone comparison: GMACs / activation memory / params, and latency, per variant.

:func:`flops_comparison` returns the issue's JSON schema (``{"input": [H, W], "depth": D, "variants":
{NAME: {"gmacs", "gmacs_backbone", "activations_mb", "params_m", "output_stride", ...}}}``) plus the
decoder/head split, ratios to FPN and the verdict on the paper's claims (:data:`PAPER_TARGETS`).
:func:`latency_comparison` times the same variants on one backend in one run.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from trt_panoptic.bench.flops import count_cost
from trt_panoptic.bench.latency import (
    LatencyStats,
    format_stats,
    format_trtexec,
    interleaved,
    summarize,
    summarize_trt,
    time_cuda,
)
from trt_panoptic.bench.report import machine_info, markdown_table
from trt_panoptic.errors import TrtPanopticError, import_optional
from trt_panoptic.modeling.backbone.variants import VARIANTS, VariantSpec, build_variant
from trt_panoptic.runtime.factory import BACKBONE_BACKENDS

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
PARTS = ("backbone", "decoder", "head")


@dataclass(frozen=True)
class Target:
    """A claim of the paper as a GMACs ratio ``variant / fpn`` that should lie in ``[low, high]``."""

    variant: str
    low: float
    high: float
    claim: str


# Kirillov et al. 2019 (Sec. 3, Fig. 5), for ResNet-101 at 2 megapixels, as the issue states them.
PAPER_TARGETS = (
    Target("dilated8", 3.0, float("inf"), "dilated-8 costs about 3x FPN or more"),
    Target("dilated16", 0.75, 1.25, "FPN costs about as much as dilated-16 (within 25 %) at 4x finer output"),
    Target("encdec", 1.5, 2.0, "a symmetric encoder-decoder costs about 1.5-2x FPN"),
)


def _check_variants(variants: Sequence[str]) -> list[str]:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise TrtPanopticError(f"variants should be among {', '.join(VARIANTS)}, got {list(variants)} — e.g. --variants fpn dilated16")
    return list(variants)


def _check_size(height: int, width: int) -> None:
    if height <= 0 or width <= 0 or height % 32 or width % 32:
        raise TrtPanopticError(f"input size should be positive multiples of 32, got {height}x{width} — e.g. --height 1024 --width 2048")


def flops_comparison(
    *, depth: int = 101, height: int = 1024, width: int = 2048, variants: Sequence[str] = VARIANTS,
    spec: VariantSpec | None = None,
) -> dict[str, Any]:
    """Count every variant on ``meta`` tensors (no memory, no compute) at ``height × width``, batch 1.

    Returns the issue's schema; units: GMACs (1e9 multiply-adds), MB (1e6 bytes, FP32), millions of params.
    """
    variants = _check_variants(variants)
    _check_size(height, width)
    if depth not in (18, 34, 50, 101):
        raise TrtPanopticError(f"depth should be 18, 34, 50 or 101, got {depth} — e.g. --depth 101")
    spec = VariantSpec(**{**(spec.__dict__ if spec else {}), "depth": depth})
    out: dict[str, Any] = {"input": [height, width], "depth": depth, "num_classes": spec.num_classes,
                           "width_mult": spec.width_mult,
                           "counted_on": "meta tensors (exact shapes, no arithmetic)", "variants": {}}
    for name in variants:
        with torch.device("meta"):
            model = build_variant(name, spec).eval()
            image = torch.empty(1, 3, height, width)
        report = count_cost(model, image, groups=model.cost_groups)
        entry: dict[str, Any] = {
            "gmacs": report.macs / 1e9,
            "activations_mb": report.activation_bytes / 1e6,
            "params_m": report.params / 1e6,
            "output_stride": model.output_stride,
        }
        for part in PARTS:
            g = report.groups.get(part)
            entry[f"gmacs_{part}"] = g.macs / 1e9 if g else 0.0
            entry[f"activations_mb_{part}"] = g.activation_bytes / 1e6 if g else 0.0
            entry[f"params_m_{part}"] = g.params / 1e6 if g else 0.0
        out["variants"][name] = entry
        logger.info("%s R%d %dx%d: %.1f GMACs, %.0f MB activations", name, depth, height, width,
                 entry["gmacs"], entry["activations_mb"])
    if "fpn" in out["variants"]:
        fpn = out["variants"]["fpn"]
        out["ratios_to_fpn"] = {
            n: {"gmacs": v["gmacs"] / fpn["gmacs"], "activations_mb": v["activations_mb"] / fpn["activations_mb"]}
            for n, v in out["variants"].items()
        }
        out["paper_targets"] = [
            {"variant": t.variant, "claim": t.claim, "expected_ratio": [t.low, t.high],
             "ratio": out["ratios_to_fpn"][t.variant]["gmacs"],
             "reproduced": t.low <= out["ratios_to_fpn"][t.variant]["gmacs"] <= t.high}
            for t in PAPER_TARGETS if t.variant in out["variants"]
        ]
    return out


def flops_markdown(result: Mapping[str, Any]) -> str:
    """Markdown: one row per variant, then the paper's claims with our ratio and a yes/no."""
    h, w = result["input"]
    rows = []
    ratios = result.get("ratios_to_fpn", {})
    for name, v in result["variants"].items():
        rows.append({"variant": name, "stride": f"1/{v['output_stride']}", **v,
                     "ratio": ratios.get(name, {}).get("gmacs")})
    text = f"### GMACs and activation memory — ResNet-{result['depth']}, {h}x{w}, batch 1\n\n"
    text += markdown_table(rows, [
        ("variant", "variant", ""), ("stride", "output", ""), ("gmacs", "GMACs", ".1f"),
        ("gmacs_backbone", "backbone", ".1f"), ("gmacs_decoder", "decoder/FPN", ".1f"), ("gmacs_head", "head", ".1f"),
        ("ratio", "× FPN", ".2f"), ("activations_mb", "activations MB (FP32)", ".0f"), ("params_m", "params M", ".1f"),
    ])
    text += ("\nGMACs: multiply-adds of convolutions and linear layers (1 MAC = 2 FLOPs). Activations: the sum of "
             "every intermediate output in FP32, as if no buffer were reused — a measure of memory traffic, not "
             "peak memory. Counted on meta tensors.\n")
    if result.get("paper_targets"):
        if result["depth"] != 101 or (h, w) != (1024, 2048):
            text += "\nThe paper's claims below are stated for ResNet-101 at 1024x2048; here they are only indicative.\n"
        text += "\n| paper's claim | expected ×FPN | ours | reproduced |\n|---|---:|---:|---|\n"
        for t in result["paper_targets"]:
            lo, hi = t["expected_ratio"]
            expected = f"≥ {lo:g}" if hi == float("inf") else f"{lo:g}–{hi:g}"
            text += f"| {t['claim']} | {expected} | {t['ratio']:.2f} | {'yes' if t['reproduced'] else 'NO'} |\n"
    return text


# --- latency ---


def _torch_callables(models: Mapping[str, torch.nn.Module], image: torch.Tensor) -> dict[str, Callable[[], Any]]:
    def runner(model: torch.nn.Module) -> Callable[[], Any]:
        def run() -> Any:
            with torch.inference_mode():
                return model(image)

        return run

    return {name: runner(m) for name, m in models.items()}


def export_onnx(model: torch.nn.Module, image: torch.Tensor, path: Path) -> Path:
    """The variant as ONNX (opset 17, TorchScript exporter: needs no onnxscript), input ``image``, output ``logits``."""
    import_optional("onnx", "pip install onnx")
    torch.onnx.export(model, (image,), str(path), input_names=["image"], output_names=["logits"],
                      opset_version=17, dynamo=False)
    return path


def _onnxruntime_callables(models: Mapping[str, torch.nn.Module], image: torch.Tensor, workdir: Path,
                           device: str) -> dict[str, Callable[[], Any]]:
    ort = import_optional("onnxruntime", "pip install onnxruntime")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    feed = {"image": image.numpy()}
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # same thread count as the torch backend
    fns = {}
    for name, model in models.items():
        path = export_onnx(model, image, workdir / f"{name}.onnx")
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        fns[name] = (lambda s: (lambda: s.run(None, feed)))(session)
    return fns


def parse_trtexec_times(records: Sequence[Mapping[str, float]]) -> tuple[list[dict[str, float]], float]:
    """``trtexec --exportTimes`` records → per-inference ``{h2d_ms, compute_ms, d2h_ms, enqueue_ms}`` and wall s.

    TensorRT 10.x names the phases ``h2dMs``/``computeMs``/``d2hMs``; 8.x used ``inMs``/``outMs``.
    """
    out, starts, ends = [], [], []
    for r in records:
        if "computeMs" not in r:
            continue
        row = {"h2d_ms": float(r.get("h2dMs", r.get("inMs", 0.0))), "compute_ms": float(r["computeMs"]),
               "d2h_ms": float(r.get("d2hMs", r.get("outMs", 0.0)))}
        if "startEnqMs" in r and "endEnqMs" in r:
            row["enqueue_ms"] = float(r["endEnqMs"]) - float(r["startEnqMs"])
        out.append(row)
        starts.append(min(float(r[k]) for k in ("startEnqMs", "startH2dMs", "startInMs", "startComputeMs") if k in r))
        ends.append(max(float(r[k]) for k in ("endD2hMs", "endOutMs", "endComputeMs") if k in r))
    if not out:
        raise TrtPanopticError("trtexec --exportTimes file should list per-inference times, it has none — rerun trtexec with --exportTimes")
    return out, (max(ends) - min(starts)) / 1000.0


def _trtexec() -> str:
    trtexec = shutil.which("trtexec")
    if trtexec is None:
        raise TrtPanopticError("trtexec should be on PATH for --backend tensorrt, it is not — install TensorRT (or JetPack) and add its bin/ to PATH")
    return trtexec


def _tensorrt_variant(model: torch.nn.Module, image: torch.Tensor, name: str, workdir: Path, precision: str,
                      warmup: int, iterations: int) -> dict[str, Any]:
    from trt_panoptic.engine.builder import installed_trt_version
    from trt_panoptic.engine.trtexec import trtexec_args
    from trt_panoptic.engine.versions import ONNX_ANY, ONNX_QDQ, parse_version, select_plan

    trtexec = _trtexec()
    # The precision flags are the build plan's (engine.versions); with only trtexec installed (no Python
    # tensorrt, e.g. JetPack 6) the plan is TensorRT 10.3's.
    plan = select_plan(installed_trt_version() or parse_version("10.3.0"), precision)
    # An FP32 variant graph fits a 10.x plan (int8: Q/DQ kernels timed with dummy scales, no calibration);
    # on 11.x precision comes from the ONNX's types, which this graph does not have.
    if plan.onnx_requirement not in (ONNX_ANY, ONNX_QDQ) or (plan.version.major >= 11 and precision != "fp32"):
        raise TrtPanopticError(
            f"--precision {precision} should come from the ONNX on TensorRT {plan.version} (no --{precision} flag), got "
            "an FP32 variant graph — time --precision fp32 here, or export an FP16-typed / Q/DQ model and time its "
            "engine with trtexec")
    onnx_path = export_onnx(model, image, workdir / f"{name}.onnx")
    times = workdir / f"{name}.times.json"
    cmd = [trtexec, *trtexec_args(plan, str(onnx_path), str(workdir / f"{name}.engine"))[1:],
           f"--iterations={iterations}", f"--warmUp={warmup * 100}", "--duration=0", f"--exportTimes={times}"]
    # trtexec warms up by time, not by count: --warmUp is milliseconds (100 per requested warm-up iteration).
    logger.info("%s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
        raise TrtPanopticError(f"trtexec should build and time {name}, it failed ({tail[0]}) — run the logged command to see why")
    records, wall = parse_trtexec_times(json.loads(times.read_text()))
    summary = summarize_trt(records, wall_s=wall)
    for line in format_trtexec(summary):
        logger.info("%s: %s", name, line)
    return {**summary.latency.to_dict(), "trtexec": summary.to_dict(), "trtexec_command": " ".join(cmd)}


def latency_comparison(
    *, backend: str = "torch", precision: str = "fp32", variants: Sequence[str] = VARIANTS, depth: int = 50,
    height: int = 512, width: int = 1024, warmup: int = 2, iterations: int = 10, device: str = "cpu",
    spec: VariantSpec | None = None, seed: int = 0,
) -> dict[str, Any]:
    """Time every variant on one backend in one run (round-robin on CPU, CUDA events on GPU); batch 1.

    Returns ``{"backend", "precision", "device", "input", "depth", "warmup", "iterations",
    "variants": {NAME: LatencyStats fields (ms, img/s) [+ "trtexec"]}, "machine"}``.
    """
    variants = _check_variants(variants)
    _check_size(height, width)
    if backend not in BACKBONE_BACKENDS:
        raise TrtPanopticError(f"backend should be one of {', '.join(BACKBONE_BACKENDS)}, got {backend!r} — e.g. --backend torch")
    if precision not in PRECISIONS:
        raise TrtPanopticError(f"precision should be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if backend != "tensorrt" and precision == "int8":
        raise TrtPanopticError("int8 latency should be measured with --backend tensorrt, got --backend " + backend)
    if precision == "fp16" and not (backend == "tensorrt" or (backend == "torch" and device == "cuda")):
        raise TrtPanopticError(f"fp16 should run on --backend torch --device cuda or tensorrt, got {backend} on {device} — use --precision fp32")
    if device == "cuda" and not torch.cuda.is_available():
        raise TrtPanopticError("--device cuda should have a visible CUDA device, none found — use --device cpu")
    if backend == "tensorrt":
        _trtexec()  # fail before building models
    torch.manual_seed(seed)
    spec = VariantSpec(**{**(spec.__dict__ if spec else {}), "depth": depth})
    image = torch.randn(1, 3, height, width)
    models = {name: build_variant(name, spec).eval() for name in variants}
    result: dict[str, Any] = {"backend": backend, "precision": precision, "device": device, "input": [height, width],
                              "depth": depth, "width_mult": spec.width_mult, "warmup": warmup,
                              "iterations": iterations, "batch": 1, "variants": {}}
    if backend == "torch" and device == "cuda":
        dtype = torch.float16 if precision == "fp16" else torch.float32
        image = image.to("cuda", dtype)
        fns = _torch_callables({n: m.to("cuda", dtype) for n, m in models.items()}, image)
        for name, fn in fns.items():
            samples, wall = time_cuda(fn, warmup=warmup, iterations=iterations)
            result["variants"][name] = summarize(samples, wall_s=wall).to_dict()
        result["timing"] = "CUDA events around each forward, one variant after the other"
    elif backend == "tensorrt":
        with tempfile.TemporaryDirectory() as tmp:
            for name, model in models.items():
                result["variants"][name] = _tensorrt_variant(model, image, name, Path(tmp), precision, warmup, iterations)
        result["timing"] = "trtexec --exportTimes (GPU compute apart from H2D/D2H); latency = H2D + compute + D2H"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "torch":
                fns = _torch_callables(models, image)
            else:
                fns = _onnxruntime_callables(models, image, Path(tmp), device)
            samples = interleaved(fns, warmup=warmup, iterations=iterations)
        for name, s in samples.items():
            result["variants"][name] = summarize(s).to_dict()
        result["timing"] = "host perf_counter, variants interleaved round-robin in one loop"
    for name, stats in result["variants"].items():
        logger.info("%s", format_stats(name, _stats(stats)))
    result["machine"] = machine_info()
    result["machine"]["load_average_1min_after"] = os.getloadavg()[0]
    return result


def _stats(d: Mapping[str, Any]) -> LatencyStats:
    return LatencyStats(**{k: d[k] for k in LatencyStats.__dataclass_fields__})


def latency_markdown(result: Mapping[str, Any], gmacs: Mapping[str, float] | None = None) -> str:
    """Markdown: one row per variant (median, p90, p99, mean, min, max in ms; img/s; ×FPN median)."""
    h, w = result["input"]
    fpn = result["variants"].get("fpn", {})
    rows = []
    for name, s in result["variants"].items():
        rows.append({"variant": name, **s, "ratio": s["median_ms"] / fpn["median_ms"] if fpn else None,
                     "ratio_min": s["min_ms"] / fpn["min_ms"] if fpn else None, "gmacs": (gmacs or {}).get(name)})
    text = (f"### Latency — {result['backend']} {result['precision']} on {result['device']}, ResNet-{result['depth']}, "
            f"{h}x{w}, batch 1, {result['iterations']} iterations after {result['warmup']} warm-up\n\n")
    columns = [("variant", "variant", ""), ("median_ms", "median ms", ".1f"), ("p90_ms", "p90 ms", ".1f"),
               ("p99_ms", "p99 ms", ".1f"), ("mean_ms", "mean ms", ".1f"), ("min_ms", "min ms", ".1f"),
               ("max_ms", "max ms", ".1f"), ("throughput", "img/s", ".3g"), ("ratio", "× FPN (median)", ".2f"),
               ("ratio_min", "× FPN (min)", ".2f")]
    if gmacs:
        columns.append(("gmacs", "GMACs", ".1f"))
    text += markdown_table(rows, columns)
    if result.get("timing"):
        text += f"\nTiming: {result['timing']}.\n"
    return text
