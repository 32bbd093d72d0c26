"""GPU check and timing of the torch-cudagraph path (needs a CUDA GPU and PyTorch with CUDA; no TensorRT).

What it checks, then times (CUDA events, medians over --iters runs, after warm-up):

- the sync-free twin runs under ``torch.cuda.set_sync_debug_mode("error")`` (any host sync raises);
- the captured twin's panoptic maps equal the exact eager twin's (``sync_free`` False) on the bundled model's
  validation images (synthetic, seed 1000, as benchmarks/train_bundled.sh makes them), and how many frames
  fell back to the exact ops;
- per frame: the eager model (``TorchPredictor.forward``, the per-instance tail included via decode), the eager
  twin and the captured twin, FP32 and FP16, for the bundled model at 576×768 and 736×1280 and a randomly
  initialised R50-FPN at 800×1344;
- end to end: ``trt-panoptic run`` on a 720×1280 ``data synth-video`` clip with ``--output none`` and with an mp4.

Writes JSON and Markdown (``--out``, default benchmarks/results/gpu_cudagraph.json and .md).

    python benchmarks/gpu_cudagraph.py --out $OUT/gpu_cudagraph.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from trt_panoptic.bench.report import machine_info
from trt_panoptic.config import load_config
from trt_panoptic.data.synthetic import default_categories, render_scene
from trt_panoptic.export.graph_model import PanopticGraphModel
from trt_panoptic.modeling import build_model
from trt_panoptic.modeling.checkpoint import load_model
from trt_panoptic.runtime.cudagraph_backend import CudaGraphPredictor
from trt_panoptic.runtime.decode import decode_outputs
from trt_panoptic.runtime.torch_backend import TorchPredictor

CASES = [("bundled", 576, 768), ("bundled", 736, 1280), ("r50", 800, 1344)]


def _median_ms(fn, iters: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        end.synchronize()
        times.append(begin.elapsed_time(end))
    return float(np.median(times))


def _model(name: str):
    if name == "bundled":
        return load_model()
    cfg = load_config("r50_fpn_coco")
    torch.manual_seed(0)
    return build_model(cfg).eval(), cfg


def _frames(count: int, h: int, w: int, seed: int = 1000) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [render_scene(rng, h, w, default_categories())[0] for _ in range(count)]


def check_sync_free(model, cfg, h: int, w: int) -> str:
    twin = PanopticGraphModel(model.cuda(), h, w, panoptic_tail=True).eval()
    image = torch.zeros((1, 3, h, w), dtype=torch.uint8, device="cuda")
    hw = torch.tensor([[h, w]], dtype=torch.int32, device="cuda")
    with torch.no_grad():
        twin.infer(image, hw)  # first run: allocations and kernel choice
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            twin.infer(image, hw)
            return "ok: no host sync"
        except RuntimeError as exc:
            return f"FAILED: {str(exc).splitlines()[0]}"
        finally:
            torch.cuda.set_sync_debug_mode("default")


def check_equality(model, cfg, h: int, w: int, count: int) -> dict:
    """Captured twin vs the exact eager twin, through the shared decode path, on validation images."""
    captured = CudaGraphPredictor(model, cfg, h, w, device="cuda")
    same, pixels = 0, 0.0
    for frame in _frames(count, 256, 256):
        x, box = captured.prepare(frame)
        hw = np.asarray([box.resized], np.int32)
        got = decode_outputs(captured.forward(x, hw), box, **captured.fusion)
        captured.twin.sync_free = False
        with torch.no_grad():
            out, _ = captured.twin.infer(torch.from_numpy(x).cuda(), torch.from_numpy(hw).cuda())
        captured.twin.sync_free = True
        want = decode_outputs(out, box, **captured.fusion)
        same += int(np.array_equal(got.panoptic, want.panoptic))
        pixels += float((got.panoptic == want.panoptic).mean())
    return {"images": count, "identical_maps": same, "pixel_agreement": pixels / count,
            "fallbacks": captured.fallbacks, "frames": captured.frames}


def time_case(name: str, h: int, w: int, iters: int) -> dict:
    model, cfg = _model(name)
    frame = _frames(1, h, w, seed=3)[0]
    row: dict = {"model": name, "input": [h, w]}
    eager = TorchPredictor(model, cfg, h, w, device="cuda")
    x, box = eager.prepare(frame)
    hw = np.asarray([box.resized], np.int32)
    row["eager_model_ms"] = _median_ms(lambda: decode_outputs(eager.forward(x, hw), box, **eager.fusion), iters)
    xt, hwt = torch.from_numpy(x).cuda(), torch.from_numpy(hw).cuda()
    for half in (False, True):
        tag = "fp16" if half else "fp32"
        twin = PanopticGraphModel(model.cuda(), h, w, half=half, panoptic_tail=True).eval()
        with torch.no_grad():
            row[f"eager_twin_{tag}_ms"] = _median_ms(lambda: twin.infer(xt, hwt), iters)
        t0 = time.perf_counter()
        captured = CudaGraphPredictor(model, cfg, h, w, device="cuda", half=half)
        captured.capture()
        row[f"capture_{tag}_s"] = time.perf_counter() - t0
        graph = captured._capture.graph
        row[f"replay_{tag}_ms"] = _median_ms(graph.replay, iters)
        row[f"captured_forward_{tag}_ms"] = _median_ms(lambda: captured.forward(x, hw), iters)
        row[f"captured_predict_{tag}_ms"] = _median_ms(
            lambda: decode_outputs(captured.forward(x, hw), box, **captured.fusion), iters)
        row[f"fallbacks_{tag}"] = captured.fallbacks
    return row


def run_cli(clip: Path, output: str, stats: Path) -> dict:
    cmd = [sys.executable, "-m", "trt_panoptic.cli.main", "run", "--source", str(clip), "--output", output,
           "--backend", "torch-cudagraph", "--device", "cuda", "--stats", str(stats)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    result = {"command": " ".join(cmd[1:]), "rc": proc.returncode, "wall_s": time.perf_counter() - t0}
    if proc.returncode:
        result["stderr"] = proc.stderr[-2000:]
    elif stats.exists():
        result["stats"] = json.loads(stats.read_text())
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="benchmarks/results/gpu_cudagraph.json")
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--images", type=int, default=20, help="validation images for the equality check")
    p.add_argument("--frames", type=int, default=300, help="frames of the 720x1280 clip")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("gpu_cudagraph: no CUDA device visible", file=sys.stderr)
        return 2
    report: dict = {"machine": machine_info(), "gpu": torch.cuda.get_device_name(),
                    "date": time.strftime("%Y-%m-%d")}
    model, cfg = load_model()
    report["sync_debug"] = check_sync_free(model, cfg, 256, 256)
    print("sync debug:", report["sync_debug"], flush=True)
    report["equality"] = check_equality(model, cfg, 256, 256, args.images)
    print("equality:", report["equality"], flush=True)
    report["cases"] = []
    for case in CASES:
        try:
            row = time_case(*case, iters=args.iters)
        except Exception as exc:  # keep the other cases' numbers
            row = {"model": case[0], "input": list(case[1:]), "error": f"{type(exc).__name__}: {exc}"[:500]}
        print(row, flush=True)
        report["cases"].append(row)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        subprocess.run([sys.executable, "-m", "trt_panoptic.cli.main", "data", "synth-video", "--out", str(clip),
                        "--frames", str(args.frames), "--size", "720x1280"], check=True)
        report["run_output_none"] = run_cli(clip, "none", Path(tmp) / "none.json")
        report["run_output_mp4"] = run_cli(clip, str(Path(tmp) / "out.mp4"), Path(tmp) / "mp4.json")
    for key in ("run_output_none", "run_output_mp4"):
        stats = report[key].get("stats", {})
        print(key, report[key]["rc"], {k: stats.get(k) for k in ("throughput_fps", "frames_read", "frames_written")}, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(report, indent=2, default=str))
    os.replace(tmp_out, out)
    out.with_suffix(".md").write_text(_markdown(report))
    return 0


def _markdown(report: dict) -> str:
    lines = [f"# torch-cudagraph on {report['gpu']}, {report['date']}", "",
             f"Sync-free check: {report['sync_debug']}. Equality with the exact eager twin: {report['equality']}.", "",
             "| model | input | eager model | eager twin FP32 / FP16 | replay FP32 / FP16 | captured predict FP32 / FP16 | capture s |",
             "|---|---|---|---|---|---|---|"]
    for r in report["cases"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | error: {r['error']} |||||")
            continue
        f = lambda k: f"{r[k + '_fp32_ms']:.2f} / {r[k + '_fp16_ms']:.2f}"  # noqa: E731
        lines.append(f"| {r['model']} | {r['input'][0]}x{r['input'][1]} | {r['eager_model_ms']:.2f} | {f('eager_twin')} | "
                     f"{f('replay')} | {f('captured_predict')} | {r['capture_fp32_s']:.1f} / {r['capture_fp16_s']:.1f} |")
    for key in ("run_output_none", "run_output_mp4"):
        r = report[key]
        lines.append(f"\n`{r['command']}`: rc {r['rc']}, fps {r.get('stats', {}).get('throughput_fps')}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
