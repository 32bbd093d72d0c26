#!/usr/bin/env python
"""Video pipeline throughput against model-only throughput of the same backend (target: ≥ 90 %).

A synthetic clip is decoded once into memory and the predictor timed alone on it (model-only: nothing but
``predict`` in a loop). Then the same clip goes through the full pipeline from the file — decode,
inference, overlay, HUD and video encoding in their threads — and its throughput is frames written per
second of wall time. The two are measured alternately (``--rounds``) and the best of each reported, so
noise from other work on a shared machine hits both alike. Decode, render and encode overlapping with
inference is what brings the ratio near 100 %; on a CPU backend they compete with the model for the
same cores, so the ratio there is a lower bound for GPU backends.

``--simulate-ms MS`` replaces the model with one that sleeps MS per frame (leaving the CPU free, as a
GPU backend does) and returns the clip's ground-truth panoptic segmentation, so the overlay has real
segments to draw: it measures the pipeline's own overhead without a trained model.

Writes benchmarks/results/video_throughput_{backend}_{H}x{W}.{json,md}.

    python benchmarks/video_throughput.py [--backend auto|torch|onnxruntime|tensorrt] [--model FILE]
        [--weights CKPT] [--frames 90] [--size 256x256] [--output mp4|avi|none] [--rounds 2] [--simulate-ms MS]
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from trt_panoptic.runtime.result import PanopticResult

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.90


class SimulatedModel:
    """Sleeps ``delay_s`` per frame and returns the clip's ground truth (things and stuff) as the prediction."""

    thing_classes = ["disc", "box", "triangle"]
    stuff_classes = ["sky", "road", "grass", "wall"]

    def __init__(self, delay_s: float, truth: list[PanopticResult]) -> None:
        self.backend = f"simulated-{delay_s * 1e3:g}ms"
        self.delay_s = delay_s
        self._truth = truth
        self._next = 0

    def predict(self, image: np.ndarray) -> PanopticResult:
        time.sleep(self.delay_s)
        result = self._truth[self._next % len(self._truth)]
        self._next += 1
        return result


def ground_truth(frames: int, size: tuple[int, int], seed: int) -> list[PanopticResult]:
    """The synthetic clip's panoptic ground truth in :class:`PanopticResult` form (category ids of
    r18_fpn_tiny: things 1..3 → classes 0..2, stuff 4..7 → semantic channels 1..4)."""
    from trt_panoptic.data.synthetic_video import render_video_frames

    out = []
    for _, pan, segments in render_video_frames(frames, size, seed):
        ids = np.zeros_like(pan, np.int32)
        infos, boxes, classes = [], [], []
        for new_id, seg in enumerate(segments, start=1):
            region = pan == seg["id"]
            ids[region] = new_id
            cid = int(seg["category_id"])
            if cid <= 3:
                ys, xs = np.nonzero(region)
                infos.append({"id": new_id, "isthing": True, "category_id": cid - 1, "score": 0.99,
                              "instance_id": len(boxes)})
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                classes.append(cid - 1)
            else:
                infos.append({"id": new_id, "isthing": False, "category_id": cid - 3, "area": int(region.sum())})
        n = len(boxes)
        out.append(PanopticResult(
            panoptic=ids, segments_info=infos, sem_labels=np.zeros_like(ids),
            boxes=np.array(boxes, np.float32).reshape(n, 4), scores=np.full((n,), 0.99, np.float32),
            classes=np.array(classes, np.int64), masks=np.zeros((n, 1, 1), bool),
        ))
    return out


def decode_all(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def model_only(predictor, frames: list[np.ndarray]) -> dict:
    """Time ``predict`` alone over ``frames`` (already decoded); frames/s and per-frame ms.

    The loop runs in a worker thread, as the pipeline's inference does: on a loaded CPU, torch's
    OpenMP pool driven from the main thread was measured 3-4x slower than from a worker thread, which
    would flatter the pipeline. Same thread kind on both sides keeps the comparison fair.
    """
    times: list[float] = []
    span: list[float] = []

    def loop() -> None:
        span.append(time.perf_counter())
        for image in frames:
            t0 = time.perf_counter()
            predictor.predict(image)
            times.append(time.perf_counter() - t0)
        span.append(time.perf_counter())

    worker = threading.Thread(target=loop, name="model-only")
    worker.start()
    worker.join()
    wall = span[1] - span[0]
    ms = sorted(t * 1e3 for t in times)
    return {"fps": len(frames) / wall, "wall_s": wall, "median_ms": statistics.median(ms),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": statistics.fmean(ms)}


def end_to_end(predictor, clip: Path, output: str, workdir: Path) -> dict:
    """The full pipeline from the file, lossless, with overlay + HUD, into ``output`` (mp4/avi/none)."""
    from trt_panoptic.video.pipeline import Pipeline, PipelineConfig
    from trt_panoptic.video.sinks import NullSink, VideoFileSink
    from trt_panoptic.video.sources import open_source

    sink = NullSink() if output == "none" else VideoFileSink(workdir / f"annotated.{output}")
    stats = Pipeline(open_source(str(clip)), predictor, [sink], PipelineConfig(mode="lossless")).run()
    d = stats.to_dict()
    infer = d["latency_ms"]["infer"]
    # Share of the wall time the model was computing: near 100 % means the pipeline kept it fed, and any
    # gap to model-only FPS comes from slower inference (cores shared with decode/encode or other work).
    busy = infer["mean"] * infer["count"] / 1e3 / d["wall_s"] if d["wall_s"] else 0.0
    return {"fps": d["throughput_fps"], "wall_s": d["wall_s"], "frames": d["frames_written"], "model_busy": busy,
            "codec": getattr(sink, "codec", ""), "latency_ms": d["latency_ms"]}


def machine() -> dict:
    import cv2
    import torch

    info = {"cpu": platform.processor() or platform.machine(), "logical_cores": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "opencv": cv2.__version__, "load_avg_1min": round(os.getloadavg()[0], 2), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def stage_rows(stage: dict) -> str:
    """Markdown rows (p50/p95/p99 ms) of the pipeline stages that ran."""
    return "\n".join(
        f"| {name} | {stage[name]['p50']:.2f} | {stage[name]['p95']:.2f} | {stage[name]['p99']:.2f} |"
        for name in ("capture", "infer", "render", "write", "end_to_end") if stage[name].get("count")
    )


def verdict_and_note(r: dict) -> tuple[str, str]:
    """The target verdict for ``r['ratio']`` and, on a machine loaded beyond its cores, the note saying the
    ratio cannot be judged there."""
    m = r["machine"]
    if m.get("load_avg_1min", 0) <= (m.get("logical_cores") or 1):
        return ("meets" if r["ratio"] >= TARGET else "misses") + " the ≥ 90 % target", ""
    return ("the ≥ 90 % target cannot be judged on this loaded machine — rerun on an idle one",
            f"**Noisy machine:** the load average ({m['load_avg_1min']}) exceeded the core count — other jobs shared "
            "the cores, so the two FPS figures moved between rounds (a ratio above 100 % is that noise). The "
            "model-busy share below does not depend on that load: it says whether the pipeline ever left the "
            "model waiting.\n\n")


def markdown(result: dict) -> str:
    r = result
    rows = stage_rows(r["end_to_end"]["latency_ms"])
    verdict, note = verdict_and_note(r)
    if r["backend"].startswith("simulated"):
        note += ("The model is a stand-in that sleeps per frame and returns the clip's ground truth (leaving the "
                "CPU free, as a GPU backend does): this measures the pipeline's own overhead, not a model.\n\n")
    return (
        f"### Video pipeline throughput — {r['backend']} backend, {r['size']}, {r['frames']} frames\n\n"
        + note +
        f"| measurement | FPS | ms/frame |\n|---|---:|---:|\n"
        f"| model only (predict on decoded frames) | {r['model_only']['fps']:.1f} | {1e3 / r['model_only']['fps']:.1f} |\n"
        f"| end to end (decode → infer → overlay+HUD → encode {r['output']}) | {r['end_to_end']['fps']:.1f} | "
        f"{1e3 / r['end_to_end']['fps']:.1f} |\n\n"
        f"End-to-end / model-only: **{100 * r['ratio']:.1f} %** ({verdict}); "
        f"best of {r['rounds']} alternating rounds. In the end-to-end run the model was computing "
        f"{100 * r['end_to_end']['model_busy']:.1f} % of the wall time (inference p50 there "
        f"{r['end_to_end']['latency_ms']['infer']['p50']:.1f} ms vs {r['model_only']['median_ms']:.1f} ms alone).\n\n"
        f"Per-stage latency in the end-to-end run (ms; lossless mode, so end-to-end includes queueing):\n\n"
        f"| stage | p50 | p95 | p99 |\n|---|---:|---:|---:|\n{rows}\n\n"
        f"Machine: {r['machine']['cpu']} ({r['machine']['logical_cores']} logical cores), torch "
        f"{r['machine']['torch']} ({r['machine']['torch_threads']} threads), OpenCV {r['machine']['opencv']}; "
        f"load average {r['machine'].get('load_avg_1min', '?')} at the end (other work shares the cores); "
        f"{r['machine']['date']}\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "tensorrt"))
    parser.add_argument("--model", help="ONNX file or engine (default: the bundled model)")
    parser.add_argument("--weights", help="PyTorch checkpoint (default: the bundled model)")
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--size", default="256x256", help="HxW")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--output", default="mp4", choices=("mp4", "avi", "none"))
    parser.add_argument("--rounds", type=int, default=2, help="alternating model-only / end-to-end rounds")
    parser.add_argument("--simulate-ms", type=float, help="use a sleeping stand-in model instead of a real one")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from trt_panoptic.data.synthetic_video import write_synthetic_video

    h, w = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clip = write_synthetic_video(workdir / "clip.mp4", args.frames, (h, w), seed=args.seed, progress=False)
        if args.simulate_ms is not None:
            predictor = SimulatedModel(args.simulate_ms / 1e3, ground_truth(args.frames, (h, w), args.seed))
        else:
            from trt_panoptic.runtime import create_predictor

            # the clip size as the model size: the onnxruntime backend then exports at it (no letterboxing)
            size_kw = {} if args.model else {"height": h, "width": w}
            predictor = create_predictor(args.backend, model=args.model, weights=args.weights, **size_kw)
        frames = decode_all(clip)
        model_only(predictor, frames[:3])  # warm-up: lazy init, allocator, caches
        best_model, best_e2e = None, None
        for _ in range(args.rounds):
            m = model_only(predictor, frames)
            e = end_to_end(predictor, clip, args.output, workdir)
            best_model = m if best_model is None or m["fps"] > best_model["fps"] else best_model
            best_e2e = e if best_e2e is None or e["fps"] > best_e2e["fps"] else best_e2e
            print(f"round: model-only {m['fps']:.1f} FPS, end-to-end {e['fps']:.1f} FPS "
                  f"(model busy {100 * e['model_busy']:.0f} %)", file=sys.stderr)
    result = {
        "backend": predictor.backend, "size": f"{h}x{w}", "frames": len(frames), "output": args.output,
        "rounds": args.rounds, "model_only": best_model, "end_to_end": best_e2e,
        "ratio": best_e2e["fps"] / best_model["fps"], "target_ratio": TARGET, "machine": machine(),
    }
    loaded = result["machine"]["load_avg_1min"] > (result["machine"]["logical_cores"] or 1)
    result["meets_target"] = None if loaded else result["ratio"] >= TARGET  # None: not judgeable under load
    result["weights"], result["model"] = args.weights, args.model
    stem = args.out / f"video_throughput_{predictor.backend}_{h}x{w}"
    args.out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    stem.with_suffix(".md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
