#!/usr/bin/env python
"""What a frame costs, stage by stage, with the panoptic tail before and after it moved into one fused pass.

Three measurements, all on this machine, the two tails always timed side by side in the same loop:

1. **Tail alone** at 576×768, 720×1280 and 1024×2048 (H×W) with 0, 20, 50, 100 synthetic detections:
   the per-instance reference (``paste_masks_in_image`` + ``combine_panoptic``, what ran before) against
   ``panoptic_from_detections`` (its host build, the CPU default, and its tensor version) and the portable
   ONNX's standard-op tail run by ONNX Runtime (``export.tail_ops``), with the outputs compared (the host
   build must equal the reference bit for bit).
2. **Frame split** for the bundled model on frames of ``trt-panoptic data synth-video`` at those sizes,
   torch and ONNX Runtime on the CPU (input 256×256, the bundled model's size): prepare, forward, decode
   (the host side after the graph: before = the reference tail at frame resolution, after = the fused
   one; and, for a graph that ends in the panoptic map as the TensorRT flavour does, only the crop, the
   nearest resize of the id map and the table), render. Decode and render are timed with the model's own detections and with 0…100 synthetic
   ones injected into its raw outputs (the bundled model stops at 50).
   The portable ONNX that ends in the panoptic map (the tail in standard ops) is timed on the model's own
   detections.
3. **Evaluation**: PQ and seconds per image of both backends over the bundled model's validation scenes
   (the fixed seeds of ``benchmarks/export_parity.py``), before and after, and of both ONNX flavours with
   the tail in the graph.

With a GPU (``torch.cuda.is_available()``) it also times the tensor tail on the GPU against the reference
there. Writes ``benchmarks/results/frame_cost.{json,md,png}`` (``frame_cost_cuda.*`` on a GPU).

    python benchmarks/frame_cost.py [--sizes 576x768,720x1280,1024x2048] [--instances 0,20,50,100]
        [--reps 3] [--frames 4] [--eval-images 50]
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from trt_panoptic.bench.report import machine_info, machine_line, write_json, write_text
from trt_panoptic.data.preprocess import Letterbox
from trt_panoptic.postprocess import combine_panoptic, panoptic_from_detections, paste_masks_in_image
from trt_panoptic.postprocess.result import PanopticResult, result_from_outputs

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_detections(h: int, w: int, n: int, seed: int, num_classes: int = 3, m: int = 28) -> dict[str, torch.Tensor]:
    """n detections shaped like a street scene's: boxes of 5–25 % of the short side, aspect 1:2…2:1, anywhere
    in the frame (overlapping freely); blob masks with noisy edges; scores 0.5–1 (all take part in fusion)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, m), torch.linspace(-1, 1, m), indexing="ij")
    probs = (1.2 - (yy**2 + xx**2).sqrt()[None] + 0.3 * torch.randn(n, m, m, generator=g)).clamp(0, 1)
    side = min(h, w) * (0.05 + 0.2 * torch.rand(n, generator=g))
    aspect = torch.exp((torch.rand(n, generator=g) - 0.5) * 1.4)
    bw, bh = side * aspect.sqrt(), side / aspect.sqrt()
    cx, cy = torch.rand(n, generator=g) * w, torch.rand(n, generator=g) * h
    boxes = torch.stack([(cx - bw / 2).clamp(0, w), (cy - bh / 2).clamp(0, h), (cx + bw / 2).clamp(0, w),
                         (cy + bh / 2).clamp(0, h)], dim=1)
    return {"boxes": boxes, "scores": 0.5 + 0.5 * torch.rand(n, generator=g),
            "classes": torch.randint(0, num_classes, (n,), generator=g), "mask_probs": probs}


def synthetic_labels(h: int, w: int, seed: int, num_labels: int = 5) -> torch.Tensor:
    """Blocky semantic labels (stuff regions of 64 px cells)."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.randint(0, num_labels, (h // 64 + 1, w // 64 + 1), generator=g)
    return cells.repeat_interleave(64, 0).repeat_interleave(64, 1)[:h, :w].to(torch.int32).contiguous()


def reference_tail(sem, probs, boxes, scores, classes, **fusion):
    masks = paste_masks_in_image(probs, boxes, tuple(sem.shape))
    return combine_panoptic(sem, masks, scores, classes, **fusion)


def decode_before(raw: dict[str, Any], box: Letterbox, **fusion) -> PanopticResult:
    """The host decode as it was: the reference tail at the frame's resolution, masks pasted for every instance."""
    t = {k: torch.as_tensor(np.asarray(v)) for k, v in raw.items()}
    n = int(t["num_detections"].reshape(-1)[0])
    h0, w0 = box.original
    rh, rw = box.resized
    sem = t["sem_labels"][0, :rh, :rw].to(torch.int32)
    rows = np.minimum(((np.arange(h0) + 0.5) * rh / h0).astype(np.int64), rh - 1)
    cols = np.minimum(((np.arange(w0) + 0.5) * rw / w0).astype(np.int64), rw - 1)
    sem = sem[torch.from_numpy(rows)][:, torch.from_numpy(cols)]
    boxes = t["boxes"][0, :n].float() / box.scale
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w0)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h0)
    keep = ((boxes[:, 2] - boxes[:, 0]) > 0) & ((boxes[:, 3] - boxes[:, 1]) > 0)
    boxes, scores = boxes[keep], t["scores"][0, :n].float()[keep]
    classes, probs = t["classes"][0, :n].long()[keep], t["mask_probs"][0, :n].float()[keep]
    masks = paste_masks_in_image(probs, boxes, (h0, w0))
    pan, segments = combine_panoptic(sem, masks, scores, classes, **fusion)
    return PanopticResult(pan.numpy(), segments, sem.numpy(), boxes.numpy(), scores.numpy(), classes.numpy(),
                          masks.numpy())


def best_ms(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    """Median of ``reps`` calls (after one warm-up), in ms, and the last output."""
    out = fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), out


def onnx_tail(h: int, w: int, detections: int, num_stuff: int) -> Callable[..., tuple[torch.Tensor, list[dict]]]:
    """The portable ONNX's standard-op tail at h×w as a function of the reference's arguments (ONNX Runtime)."""
    import onnxruntime as ort

    from trt_panoptic.export.tail_ops import TailShape, tail_model
    from trt_panoptic.postprocess.panoptic_tail import segments_info_from_table

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(tail_model(TailShape(h, w, detections, 28, num_stuff)).SerializeToString(),
                                   options, providers=["CPUExecutionProvider"])

    def run(sem, probs, boxes, scores, classes, stuff_area_limit: int, **_) -> tuple[torch.Tensor, list[dict]]:
        n = boxes.shape[0]
        pad = lambda x, shape: np.concatenate([x.numpy(), np.zeros((detections - n, *shape), x.numpy().dtype)])[None]  # noqa: E731
        feed = {"sem_labels": sem.numpy()[None].astype(np.int32), "mask_probs": pad(probs, probs.shape[1:]),
                "boxes": pad(boxes, (4,)), "scores": pad(scores, ()), "classes": pad(classes.int(), ()),
                "num_detections": np.array([n], np.int32), "valid_hw": np.array([[h, w]], np.int32)}
        pan, table, num = session.run(None, feed)
        segments = segments_info_from_table(torch.from_numpy(table[0, : int(num[0])]))
        # the graph keeps every stuff segment; the host applies the limit (as result_from_outputs does)
        return torch.from_numpy(pan[0]), [s for s in segments if s["isthing"] or s["area"] >= stuff_area_limit]

    return run


def tail_alone(sizes, counts, reps: int, device: str = "cpu") -> list[dict]:
    rows = []
    fusion = {"instance_score_thresh": 0.5, "overlap_thresh": 0.5, "stuff_area_limit": 4096}
    for h, w in sizes:
        graph_tail = onnx_tail(h, w, max(counts), num_stuff=4) if device == "cpu" else None
        for n in counts:
            det = {k: v.to(device) for k, v in synthetic_detections(h, w, n, seed=n).items()}
            sem = synthetic_labels(h, w, seed=h).to(device)
            args = (sem, det["mask_probs"], det["boxes"], det["scores"], det["classes"])
            sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

            def timed(fn):
                return lambda: (fn(), sync())[0]

            ref_ms, ref = best_ms(timed(lambda: reference_tail(*args, **fusion)), reps)
            row = {"size": f"{h}x{w}", "instances": n, "reference_ms": ref_ms,
                   "box_area_mpx": float(((det["boxes"][:, 2] - det["boxes"][:, 0]) * (det["boxes"][:, 3] - det["boxes"][:, 1])).sum()) / 1e6}
            impls = ("host", "torch") if device == "cpu" else ("torch",)
            for impl in impls:
                ms, got = best_ms(timed(lambda: panoptic_from_detections(*args, **fusion, implementation=impl)), reps)
                row[f"{impl}_ms"] = ms
                row[f"{impl}_speedup"] = ref_ms / ms
                row[f"{impl}_pixels_differing"] = int((got[0] != ref[0]).sum())
                row[f"{impl}_segments_equal"] = got[1] == ref[1]
            if graph_tail is not None:
                ms, got = best_ms(lambda: graph_tail(*args, **fusion), reps)
                row["onnx_ms"] = ms
                row["onnx_speedup"] = ref_ms / ms
                row["onnx_pixels_differing"] = int((got[0] != ref[0]).sum())
                # the reference lists a stuff label whose pixels all went to things when the limit is 0
                row["onnx_segments_equal"] = got[1] == ref[1]
            rows.append(row)
            logging.info("tail %s", row)
    return rows


def frame_split(sizes, counts, frames: int, reps: int) -> list[dict]:
    from trt_panoptic.data.synthetic_video import render_video_frames
    from trt_panoptic.runtime import create_predictor
    from trt_panoptic.video.render import PanopticRenderer

    from trt_panoptic.export import export_onnx
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor

    predictors = {b: create_predictor(b, height=256, width=256) for b in ("torch", "onnxruntime")}
    any_pred = predictors["onnxruntime"]
    tail_in_graph = OnnxRuntimePredictor(export_onnx(*load_model(None), height=256, width=256))
    renderer = PanopticRenderer(any_pred.thing_classes, any_pred.stuff_classes, track=False)
    rows = []
    for h, w in sizes:
        clip = [f for f, _, _ in render_video_frames(frames, (h, w), seed=0)]
        rows.append(graph_tail_frame(tail_in_graph, clip, renderer, reps, f"{h}x{w}"))
        for backend, pred in predictors.items():
            prep, fwd, raws = [], [], []
            for image in clip:
                ms, (x, box) = best_ms(lambda: pred.prepare(image), reps)
                prep.append(ms)
                ms, raw = best_ms(lambda: pred.forward(x), reps)
                fwd.append(ms)
                raws.append(({k: np.asarray(v.cpu() if hasattr(v, "cpu") else v) for k, v in raw.items()}, box))
            base = {"size": f"{h}x{w}", "backend": backend, "prepare_ms": statistics.median(prep),
                    "forward_ms": statistics.median(fwd)}
            for n in ["model", *counts]:
                dec = {"before": [], "after": []}
                ren = []
                for i, (raw, box) in enumerate(raws):
                    if n != "model":
                        raw = inject(raw, box, n, seed=i)
                    for tail, fn in (("before", decode_before), ("after", result_from_outputs)):
                        ms, result = best_ms(lambda: fn(raw, box, **pred.fusion), reps)
                        dec[tail].append(ms)
                    in_graph = with_panoptic(raw, box, pred)
                    ms, _ = best_ms(lambda: result_from_outputs(in_graph, box, **pred.fusion), reps)
                    dec.setdefault("in_graph", []).append(ms)
                    ms, _ = best_ms(lambda: renderer.render(clip[i], result), reps)
                    ren.append(ms)
                row = {**base, "instances": n if n != "model" else f"model ({int(raws[0][0]['num_detections'][0])})",
                       "decode_before_ms": statistics.median(dec["before"]), "decode_after_ms": statistics.median(dec["after"]),
                       "decode_in_graph_ms": statistics.median(dec["in_graph"]), "render_ms": statistics.median(ren)}
                row["frame_before_ms"] = base["prepare_ms"] + base["forward_ms"] + row["decode_before_ms"] + row["render_ms"]
                row["frame_after_ms"] = base["prepare_ms"] + base["forward_ms"] + row["decode_after_ms"] + row["render_ms"]
                rows.append(row)
                logging.info("frame %s", row)
    return rows


def graph_tail_frame(pred, clip, renderer, reps: int, size: str) -> dict:
    """The frame split of a portable ONNX that ends in the panoptic map (its forward includes the tail)."""
    stages: dict[str, list[float]] = {"prepare": [], "forward": [], "decode": [], "render": []}
    for image in clip:
        ms, (x, box) = best_ms(lambda: pred.prepare(image), reps)
        stages["prepare"].append(ms)
        valid = np.asarray([box.resized], np.int32)
        ms, raw = best_ms(lambda: pred.forward(x, valid), reps)
        stages["forward"].append(ms)
        ms, result = best_ms(lambda: result_from_outputs(raw, box, **pred.fusion), reps)
        stages["decode"].append(ms)
        ms, _ = best_ms(lambda: renderer.render(image, result), reps)
        stages["render"].append(ms)
    med = {k: statistics.median(v) for k, v in stages.items()}
    row = {"size": size, "backend": "onnxruntime, tail in graph", "instances": f"model ({int(raw['num_detections'][0])})",
           "prepare_ms": med["prepare"], "forward_ms": med["forward"], "decode_before_ms": None,
           "decode_after_ms": None, "decode_in_graph_ms": med["decode"], "render_ms": med["render"],
           "frame_before_ms": None, "frame_after_ms": sum(med.values())}
    logging.info("frame %s", row)
    return row


def with_panoptic(raw: dict[str, np.ndarray], box: Letterbox, pred) -> dict[str, np.ndarray]:
    """What a graph that ends in the panoptic map returns for these detections (the TensorRT flavour's
    PanopticFusion node, computed here by the plugin's host build at model resolution inside the frame)."""
    from trt_panoptic.plugins import host

    valid = np.asarray([box.resized], np.int32)
    boxes = np.minimum(raw["boxes"], np.asarray([box.resized[1], box.resized[0]] * 2, np.float32))
    num_stuff = len(pred.stuff_classes)
    pan, table, count = host.panoptic_fusion(
        raw["sem_labels"], raw["mask_probs"], boxes, raw["scores"], raw["classes"], raw["num_detections"], valid,
        **pred.fusion, max_segments=boxes.shape[1] + num_stuff)
    return {**raw, "boxes": boxes, "panoptic": pan, "segments": table, "num_segments": count}


def inject(raw: dict[str, np.ndarray], box: Letterbox, n: int, seed: int) -> dict[str, np.ndarray]:
    """The raw outputs with their detections replaced by n synthetic ones (model-input coordinates)."""
    rh, rw = box.resized
    det = synthetic_detections(rh, rw, n, seed=seed)
    return {**raw, "boxes": det["boxes"].numpy()[None], "scores": det["scores"].numpy()[None],
            "classes": det["classes"].numpy().astype(np.int32)[None], "mask_probs": det["mask_probs"].numpy()[None],
            "num_detections": np.array([n], np.int32)}


def evaluation(images: int, seed: int = 1000, size: int = 256, frames: tuple[int, ...] = (256, 512)) -> list[dict]:
    """PQ and time per image of each backend and tail on the validation scenes rendered at each frame size
    (the model input stays ``size``): the torch model and the ONNX that stops at the detections with the
    tail on the host, before and after; the portable ONNX with the tail in standard ops and the TensorRT-flavour
    ONNX (PanopticFusion node, run by ONNX Runtime through the plugin's host build), whose id maps come out
    at model resolution and are resized to the frame."""
    from trt_panoptic.data.synthetic import default_categories, render_scene
    from trt_panoptic.evaluation.pq import PanopticEvaluator, pq_percent
    from trt_panoptic.export import export_onnx
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.runtime import create_predictor
    from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor

    cats = default_categories()
    categories = {int(c): {"isthing": 1} for c in cats.thing_ids} | {int(c): {"isthing": 0} for c in cats.stuff_ids}
    model, cfg = load_model(None)
    predictors = {"torch": create_predictor("torch", height=size, width=size),
                  "onnxruntime": create_predictor("onnxruntime", height=size, width=size),
                  "onnxruntime, portable": OnnxRuntimePredictor(export_onnx(model, cfg, height=size, width=size)),
                  "onnxruntime, tensorrt flavour": OnnxRuntimePredictor(
                      export_onnx(model, cfg, height=size, width=size, flavor="tensorrt"))}
    runs = [("torch", "before"), ("torch", "after"), ("onnxruntime", "before"), ("onnxruntime", "after"),
            ("onnxruntime, portable", "in graph"), ("onnxruntime, tensorrt flavour", "in graph")]
    rows = []
    for frame in frames:
        scenes = [render_scene(np.random.default_rng(seed + i), frame, frame, cats) for i in range(images)]
        evals = {run: PanopticEvaluator(categories) for run in runs}
        seconds = {run: 0.0 for run in runs}
        for i, (image, gt, segments) in enumerate(scenes):
            for backend, tail in runs:  # interleaved, so machine noise hits every run alike
                pred = predictors[backend]
                fn = decode_before if tail == "before" else result_from_outputs
                t0 = time.perf_counter()
                x, box = pred.prepare(image)
                result = fn(pred.forward(x, np.asarray([box.resized], np.int32)), box, **pred.fusion)
                seconds[backend, tail] += time.perf_counter() - t0
                m = pred.cfg.model
                segs = [{"id": s["id"], "category_id": m.thing_ids[s["category_id"]] if s["isthing"]
                         else m.stuff_ids[s["category_id"] - 1]} for s in result.segments_info]
                evals[backend, tail].add(gt, segments, result.panoptic, segs, image_id=i)
        for backend, tail in runs:
            pq = pq_percent(evals[backend, tail].results())
            rows.append({"frame": f"{frame}x{frame}", "backend": backend, "tail": tail, "pq": pq["PQ"],
                         "pq_things": pq["PQ_th"], "pq_stuff": pq["PQ_st"], "images": images,
                         "ms_per_image": 1e3 * seconds[backend, tail] / images})
        logging.info("eval %s", rows[-len(runs):])
    return rows


def plot(tail_rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["size"] for r in tail_rows}, key=lambda s: int(s.split("x")[0]))
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), sharey=True)
    for ax, size in zip(np.atleast_1d(axes), sizes):
        rows = [r for r in tail_rows if r["size"] == size]
        n = [r["instances"] for r in rows]
        ax.plot(n, [r["reference_ms"] for r in rows], "o-", label="before: paste + fusion per instance")
        for impl, style, label in (("host", "s-", "fused (host build)"), ("torch", "^-", "fused (tensor ops)"),
                                   ("onnx", "d-", "portable ONNX tail (ORT)")):
            if f"{impl}_ms" in rows[0]:
                ax.plot(n, [r[f"{impl}_ms"] for r in rows], style, label=label)
        ax.set_yscale("log")
        ax.set_title(f"{size} (H×W)")
        ax.set_xlabel("detections")
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("ms per frame")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(out: dict) -> str:
    lines = [f"# Frame cost: the panoptic tail before and after fusion ({out['device']})", "",
             machine_line(out["machine"]), "",
             f"Load average (1 min) {out['load_avg_1min_start']:.2f} at the start, {out['load_avg_1min_end']:.2f} at the "
             "end, on 2 cores; the two tails are always timed side by side in the same loop, so load hits both.", "",
             "## 1. The tail alone (median ms; speed-up over the reference)", "",
             "*portable ONNX*: the standard-op tail of the portable flavour, run by ONNX Runtime (a `Loop` over the "
             "detections); pixels that differ from the reference are counted.", "",
             "| H×W | detections | Σ box area (Mpx) | before | fused, host build | × | fused, tensor ops | × | portable ONNX | × | identical |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    nan = float("nan")
    for r in out["tail"]:
        same = "host: bit for bit" if r.get("host_pixels_differing") == 0 and r.get("host_segments_equal") else "host: differs"
        same += f"; torch: {r['torch_pixels_differing']} px" + ("" if r["torch_segments_equal"] else ", segments differ")
        if "onnx_ms" in r:
            same += f"; onnx: {r['onnx_pixels_differing']} px" + ("" if r["onnx_segments_equal"] else ", segments differ")
        lines.append(f"| {r['size']} | {r['instances']} | {r['box_area_mpx']:.2f} | {r['reference_ms']:.1f} | "
                     f"{r.get('host_ms', nan):.2f} | {r.get('host_speedup', nan):.1f} | "
                     f"{r['torch_ms']:.1f} | {r['torch_speedup']:.1f} | {r.get('onnx_ms', nan):.1f} | "
                     f"{r.get('onnx_speedup', nan):.1f} | {same} |")
    if out.get("frame"):
        lines += ["", "## 2. Per-frame split, bundled model, input 256×256 (median ms)", "",
                  "Decode *before*: the per-instance reference tail on the host; *after*: the fused tail on the host "
                  "(for graphs that stop at the detections: `--host-tail` ONNX, the default of the onnxruntime backend "
                  "on a CPU, and torch); *in graph*: what is left on the host when the graph ends in the panoptic map: "
                  "crop, nearest resize, table. *onnxruntime, tail in graph*: the portable ONNX with the standard-op "
                  "tail (its forward includes the tail), on the model's own detections. Frame totals add the stage "
                  "medians (prepare + forward + decode + render).", "",
                  "| H×W | backend | detections | prepare | forward | decode before | decode after | decode in graph | render | frame before | frame after |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        def ms(v: float | None) -> str:
            return "–" if v is None else f"{v:.1f}"

        for r in out["frame"]:
            lines.append(f"| {r['size']} | {r['backend']} | {r['instances']} | {ms(r['prepare_ms'])} | {ms(r['forward_ms'])} | "
                         f"{ms(r['decode_before_ms'])} | {ms(r['decode_after_ms'])} | {ms(r['decode_in_graph_ms'])} | "
                         f"{ms(r['render_ms'])} | {ms(r['frame_before_ms'])} | {ms(r['frame_after_ms'])} |")
    if out.get("eval"):
        lines += ["", f"## 3. Evaluation on {out['eval'][0]['images']} validation scenes (fixed seeds), model input 256×256", "",
                  "*before*/*after*: the tail on the host at the frame's resolution (per-instance reference / fused); "
                  "*in graph*: the graph's id map (portable: standard ops; TensorRT flavour: the PanopticFusion node) at "
                  "model resolution, resized to the frame (nearest).", "",
                  "| frame | backend | tail | PQ | PQ things | PQ stuff | ms per image |", "|---|---|---|---:|---:|---:|---:|"]
        lines += [f"| {r['frame']} | {r['backend']} | {r['tail']} | {r['pq']:.2f} | {r['pq_things']:.2f} | "
                  f"{r['pq_stuff']:.2f} | {r['ms_per_image']:.1f} |" for r in out["eval"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="576x768,720x1280,1024x2048")
    ap.add_argument("--instances", default="0,20,50,100")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--frames", type=int, default=4, help="clip frames per size for the frame split")
    ap.add_argument("--eval-images", type=int, default=50)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    counts = [int(v) for v in args.instances.split(",")]
    gpu = torch.cuda.is_available()
    out: dict[str, Any] = {"device": torch.cuda.get_device_name() if gpu else "CPU", "machine": machine_info(),
                           "torch_threads": torch.get_num_threads(), "load_avg_1min_start": os.getloadavg()[0]}
    out["tail"] = tail_alone(sizes, counts, args.reps, "cuda" if gpu else "cpu")
    if not gpu:
        out["frame"] = frame_split(sizes, counts, args.frames, args.reps)
        out["eval"] = evaluation(args.eval_images) if args.eval_images else []
    out["load_avg_1min_end"] = os.getloadavg()[0]
    stem = args.out / ("frame_cost_cuda" if gpu else "frame_cost")
    write_json(stem.with_suffix(".json"), out)
    write_text(stem.with_suffix(".md"), markdown(out))
    plot(out["tail"], stem.with_suffix(".png"))
    print(markdown(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
