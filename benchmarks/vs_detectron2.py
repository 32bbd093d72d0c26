#!/usr/bin/env python
"""A detectron2 model converted by ``trt-panoptic convert`` against detectron2's own ``DefaultPredictor``, on the CPU.

The model is the detectron2 parity fixture (tests/fixtures/detectron2_parity: a small trained R50-FPN layout,
3 thing + 3 stuff classes). Both sides get the same BGR frames and return a panoptic map at the frame's size:

- **detectron2**: ``DefaultPredictor`` (resize → model → mask pasting → panoptic merge), its test size set to
  the frame's (``INPUT.MIN_SIZE_TEST`` = the short side, ``MAX_SIZE_TEST`` = the long side), so it runs
  at the frame's size like ours (its resize is then a no-op copy);
- **ours, torch**: ``create_predictor("torch", weights=converted)``, each frame at its own size;
- **ours, ONNX Runtime**: ``create_predictor("onnxruntime", weights=converted, height, width)`` exported
  at the frame's size rounded up to 32 (the frame is padded, not resized; the graph is exact under padding).

Images: the fixture's 4 (256×256), the COCO panoptic sample's 2 (427×640, 360×640) and frames of
``trt-panoptic data synth-video`` clips (default 10 at each of 192×256, 576×768, 720×1280). Each whole
``predict`` call is timed with ``time.perf_counter``, the calls interleaved (per round, per image:
detectron2, ours torch, ours ONNX Runtime) so that load spikes hit all three alike; medians per image set.
The outputs are compared too: detections (count, classes, boxes, scores) and the panoptic map (pixels with
the same category; pixels with the same segment after matching segments; identical ids).

    python benchmarks/vs_detectron2.py [--rounds 3] [--warmup 1] [--threads 2] [--frames 10]
        [--sizes 192x256,576x768,720x1280] [--out benchmarks/results/vs_detectron2.json]
    python benchmarks/vs_detectron2.py --render benchmarks/results/vs_detectron2.json   # the .md again

Writes the JSON and a Markdown table beside it (same stem, .md), after every image set (a run cut short
keeps the sets it finished, marked incomplete). Record what else loads the machine: the load average is
written, but a busy machine slows the three unevenly. Without detectron2 it prints why and exits 0 (skipped). detectron2 is not on PyPI; build it in a throwaway virtual environment outside the
repository (never vendored), CPU only:

    python3 -m venv ~/d2env && . ~/d2env/bin/activate
    pip install torch==2.13.0 torchvision==0.28.0   # the pair; torchvision's PyPI wheel needs the CUDA torch
                                                    # build from PyPI (~4 GB of nvidia-* wheels), a CPU-only
                                                    # torch makes `import torchvision` fail (torchvision::nms)
    git clone https://github.com/facebookresearch/detectron2 ~/d2src   # measured at 02b5c4e
    pip install pycocotools "fvcore>=0.1.5,<0.1.6" "iopath>=0.1.7,<0.1.10" yacs termcolor tabulate \\
        cloudpickle "omegaconf>=2.1,<2.4" "hydra-core>=1.1" tensorboard black packaging matplotlib ninja
    FORCE_CUDA=0 MAX_JOBS=1 pip install --no-build-isolation --use-pep517 --no-deps -e ~/d2src
    pip install numpy pyyaml tqdm opencv-python-headless onnx onnxruntime onnx-graphsurgeon \\
        onnxruntime-extensions pillow && pip install --no-deps -e .
    python benchmarks/vs_detectron2.py
"""
from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FIXTURE = ROOT / "tests" / "fixtures" / "detectron2_parity"
COCO = ROOT / "tests" / "fixtures" / "coco_panoptic_sample" / "images"
BACKENDS = ("detectron2", "torch", "onnxruntime")
# issue 22's acceptance targets: (image set, backend) → the speed-up over detectron2 it should reach
TARGETS = {("fixture 256x256", "torch"): 1.2, ("synth 576x768", "torch"): 1.2, ("synth 720x1280", "torch"): 1.2,
           ("synth 720x1280", "onnxruntime"): 2.0}


def detectron2_missing() -> str | None:
    """Why detectron2 cannot be used here, or None when it can."""
    try:
        importlib.import_module("detectron2.engine")  # DefaultPredictor's module: imports torchvision's ops too
    except Exception as exc:  # noqa: BLE001 — any failure to import it is a reason to skip
        return f"{type(exc).__name__}: {exc}"
    return None


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in filter(None, text.split(",")):
        h, _, w = item.lower().partition("x")
        sizes.append((int(h), int(w)))
    return sizes


def image_sets(fixture: Path, sizes: list[tuple[int, int]], frames: int, work: Path) -> dict[str, list[np.ndarray]]:
    """name → BGR uint8 frames: the fixture's images, the COCO sample and synth-video frames at each size."""
    import cv2

    from trt_panoptic.cli.main import main as cli

    sets = {"fixture 256x256": [cv2.imread(str(p)) for p in sorted((fixture / "images").glob("*.png"))]}
    if COCO.is_dir():
        sets["COCO sample"] = [cv2.imread(str(p)) for p in sorted(COCO.glob("*.jpg"))]
    for h, w in sizes:
        clip = work / f"synth_{h}x{w}.mp4"
        if cli(["data", "synth-video", "--out", str(clip), "--frames", str(frames), "--size", f"{h}x{w}", "--force"]) != 0:
            raise SystemExit(f"trt-panoptic data synth-video failed for {h}x{w}")
        cap, got = cv2.VideoCapture(str(clip)), []
        while len(got) < frames:
            ok, frame = cap.read()
            if not ok:
                break
            got.append(np.ascontiguousarray(frame))
        cap.release()
        sets[f"synth {h}x{w}"] = got
    for name, images in sets.items():
        if not images or any(i is None for i in images):
            raise SystemExit(f"could not read the images of {name}")
    return sets


class Predictors:
    """One detectron2 DefaultPredictor per frame size, one torch predictor, one ONNX Runtime predictor per
    export size (the frame's rounded up to 32); each made on first use, outside the timed calls."""

    def __init__(self, fixture: Path, weights: Path, threads: int):
        self.fixture, self.weights, self.threads = fixture, weights, threads
        self._d2: dict[tuple[int, int], Any] = {}
        self._ort: dict[tuple[int, int], Any] = {}
        self.export_s: dict[str, float] = {}
        from trt_panoptic.runtime import create_predictor

        self._torch = create_predictor("torch", weights=str(weights))

    def detectron2(self, h: int, w: int):
        if (h, w) not in self._d2:
            from detectron2.config import get_cfg
            from detectron2.engine import DefaultPredictor

            cfg = get_cfg()
            cfg.merge_from_file(str(self.fixture / "config.yaml"))
            cfg.MODEL.WEIGHTS = str(self.fixture / "model_final.pth")
            cfg.MODEL.DEVICE = "cpu"
            cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = min(h, w), max(h, w)  # run at the frame's size
            self._d2[h, w] = DefaultPredictor(cfg)
        return self._d2[h, w]

    def onnxruntime(self, h: int, w: int):
        size = (32 * math.ceil(h / 32), 32 * math.ceil(w / 32))
        if size not in self._ort:
            from trt_panoptic.runtime import create_predictor

            t = time.perf_counter()
            self._ort[size] = create_predictor("onnxruntime", weights=str(self.weights), height=size[0], width=size[1],
                                               threads=self.threads)
            self.export_s[f"{size[0]}x{size[1]}"] = round(time.perf_counter() - t, 2)
        return self._ort[size]

    def calls(self, image: np.ndarray) -> dict[str, Callable[[], Any]]:
        h, w = image.shape[:2]
        d2, ort = self.detectron2(h, w), self.onnxruntime(h, w)
        return {"detectron2": lambda: d2(image), "torch": lambda: self._torch.predict(image),
                "onnxruntime": lambda: ort.predict(image)}


def category_map(panoptic: np.ndarray, segments: list[dict]) -> np.ndarray:
    """Per pixel: -1 unassigned, thing class c → c, stuff channel s → 1000 + s."""
    out = np.full(panoptic.shape, -1, np.int64)
    for seg in segments:
        out[panoptic == seg["id"]] = (0 if seg["isthing"] else 1000) + int(seg["category_id"])
    return out


def segment_agreement(ours: np.ndarray, ref: np.ndarray) -> float:
    """Fraction of pixels that agree after mapping each of our segments to the reference segment it overlaps most
    (as tests/convert/test_detectron2.py)."""
    agree = 0
    for sid in np.unique(ours):
        vals, counts = np.unique(ref[ours == sid], return_counts=True)
        agree += int(counts.max())
    return agree / ours.size


def compare(d2_out: dict, result) -> dict[str, Any]:
    """Our PanopticResult against detectron2's output dict for the same image."""
    inst = d2_out["instances"].to("cpu")
    boxes, scores = inst.pred_boxes.tensor.numpy(), inst.scores.numpy()
    classes = inst.pred_classes.numpy()
    pan, segs = d2_out["panoptic_seg"]
    pan = pan.cpu().numpy().astype(np.int64)
    ours_pan = np.asarray(result.panoptic).astype(np.int64)
    row: dict[str, Any] = {"detections_d2": int(len(boxes)), "detections_ours": int(result.num_instances),
                           "segments_d2": len(segs), "segments_ours": len(result.segments_info)}
    same_count = len(boxes) == result.num_instances
    row["classes_equal"] = bool(same_count and np.array_equal(classes, np.asarray(result.classes)))
    row["max_box_diff_px"] = float(np.abs(boxes - result.boxes).max()) if same_count and len(boxes) else (0.0 if same_count else None)
    row["max_score_diff"] = float(np.abs(scores - result.scores).max()) if same_count and len(boxes) else (0.0 if same_count else None)
    same_category = category_map(ours_pan, result.segments_info) == category_map(pan, segs)
    row["pixels"] = int(pan.size)
    row["category_agreement"] = float(same_category.mean())
    row["category_diff_px"] = int(pan.size - same_category.sum())
    row["segment_agreement"] = segment_agreement(ours_pan, pan)
    row["identical_ids"] = float((ours_pan == pan).mean())
    row["id_diff_px"] = int((ours_pan != pan).sum())
    return row


def summarize_agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    diffs = [r["max_box_diff_px"] for r in rows if r["max_box_diff_px"] is not None]
    sdiffs = [r["max_score_diff"] for r in rows if r["max_score_diff"] is not None]
    return {
        "images": len(rows),
        "detections_d2": sum(r["detections_d2"] for r in rows),
        "detections_ours": sum(r["detections_ours"] for r in rows),
        "images_same_detections": sum(r["detections_d2"] == r["detections_ours"] and r["classes_equal"] for r in rows),
        "images_same_segments": sum(r["segments_d2"] == r["segments_ours"] for r in rows),
        "max_box_diff_px": max(diffs) if diffs else None,
        "max_score_diff": max(sdiffs) if sdiffs else None,
        "min_category_agreement": min(r["category_agreement"] for r in rows),
        "mean_category_agreement": statistics.fmean(r["category_agreement"] for r in rows),
        "min_segment_agreement": min(r["segment_agreement"] for r in rows),
        "min_identical_ids": min(r["identical_ids"] for r in rows),
        "pixels": sum(r.get("pixels", 0) for r in rows),
        "category_diff_px": sum(r.get("category_diff_px", 0) for r in rows) if all("pixels" in r for r in rows) else None,
        "id_diff_px": sum(r.get("id_diff_px", 0) for r in rows) if all("pixels" in r for r in rows) else None,
    }


def run_set(name: str, images: list[np.ndarray], predictors: Predictors, rounds: int, warmup: int) -> dict[str, Any]:
    calls = [predictors.calls(image) for image in images]  # every predictor made (and exported) before timing
    warm = {}  # warm-up: each predictor on the first image of each frame size
    for image, fns in zip(images, calls):
        warm.setdefault(image.shape[:2], fns)
    for _ in range(warmup):
        for fns in warm.values():
            for fn in fns.values():
                fn()
    load_before = os.getloadavg()
    samples: dict[str, list[float]] = {b: [] for b in BACKENDS}
    agreement: dict[str, list[dict[str, Any]]] = {"torch": [], "onnxruntime": []}
    t_set = time.perf_counter()
    for r in range(rounds):
        for fns in calls:
            outs = {}
            for backend, fn in fns.items():  # interleaved: detectron2, ours torch, ours ONNX Runtime
                t0 = time.perf_counter()
                outs[backend] = fn()
                samples[backend].append((time.perf_counter() - t0) * 1000)
            if r == 0:  # compared between the timed calls, then dropped (720x1280 masks are large)
                for b in agreement:
                    agreement[b].append(compare(outs["detectron2"], outs[b]))
            del outs
    wall_s = time.perf_counter() - t_set
    medians = {b: statistics.median(v) for b, v in samples.items()}
    sizes = sorted({f"{i.shape[0]}x{i.shape[1]}" for i in images})
    row = {
        "set": name, "frame_sizes": sizes, "images": len(images), "rounds": rounds,
        "median_ms": medians, "samples_ms": samples,
        "speedup": {b: medians["detectron2"] / medians[b] for b in ("torch", "onnxruntime")},
        "agreement": {b: summarize_agreement(v) for b, v in agreement.items()},
        "agreement_per_image": agreement,
        "load_average_before": list(load_before), "load_average_after": list(os.getloadavg()),
        "wall_s_timed_rounds_and_comparisons": wall_s,
    }
    logging.info("%s (%s, %d images): detectron2 %.1f ms, torch %.1f ms (%.2fx), ORT %.1f ms (%.2fx); load %.2f → %.2f",
                 name, "/".join(sizes), len(images), medians["detectron2"], medians["torch"], row["speedup"]["torch"],
                 medians["onnxruntime"], row["speedup"]["onnxruntime"], load_before[0], row["load_average_after"][0])
    return row


def code_state() -> dict[str, Any]:
    """The commit this checkout is at and the package files changed since (the code measured)."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.rstrip("\n")
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD").strip() or None,
            "changed": [line[3:] for line in git("status", "--porcelain", "trt_panoptic").splitlines()]}


def code_line(code: dict[str, Any]) -> str:
    commit = (code.get("commit") or "unknown")[:10]
    changed = code.get("changed") or []
    return f"commit {commit}" + (f" + uncommitted changes to {', '.join(changed)}" if changed else "")


def differing(row: dict[str, Any], backend: str, count: str, fraction: str) -> str:
    """Pixels of the set's images that differ from detectron2's. Results written before the counts were kept
    give them back from the per-image fractions when the set has one frame size, else the worst image's share."""
    a = row["agreement"][backend]
    if a.get(count) is not None:
        return f"{a[count]:,}"
    per_image = [r[fraction.replace("min_", "")] for r in row["agreement_per_image"][backend]]
    if all(f == 1.0 for f in per_image):
        return "0"
    if len(row["frame_sizes"]) == 1:
        h, w = map(int, row["frame_sizes"][0].split("x"))
        return f"{sum(round((1 - f) * h * w) for f in per_image):,}"
    return f"≤ {100 * (1 - a[fraction]):.4f} %"


def markdown(out: dict[str, Any]) -> str:
    from trt_panoptic.bench.report import machine_line

    info = out["machine"]
    lines = ["# A converted detectron2 model against detectron2's DefaultPredictor, CPU, batch 1", "",
             machine_line(info) + f"; detectron2 {info['versions'].get('detectron2')}, torchvision "
             f"{info['versions'].get('torchvision')}", "",
             f"Model: the detectron2 parity fixture (small R50-FPN layout, 3 thing + 3 stuff classes), converted by "
             f"`trt-panoptic convert`. {out['threads']} threads for every backend; {out['warmup']} untimed call(s) of each predictor "
             f"per frame size, then {out['rounds']} timed rounds over each image set, calls interleaved (per image: detectron2, ours torch, "
             f"ours ONNX Runtime); median of the whole `predict` call, ms; (×) = detectron2's time / ours. Code: "
             f"{code_line(info.get('code', {}))}.", "",
             "| images | frame H×W | n | detectron2 ms | ours torch ms (×) | ours ONNX Runtime ms (×) | detections d2 / torch / ORT | pixels of another category, torch / ORT |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in out["sets"]:
        m, s, a = r["median_ms"], r["speedup"], r["agreement"]
        lines.append(
            f"| {r['set'].split(' ')[0]} | {', '.join(r['frame_sizes'])} | {r['images']} | {m['detectron2']:.1f} | "
            f"{m['torch']:.1f} ({s['torch']:.2f}×) | {m['onnxruntime']:.1f} ({s['onnxruntime']:.2f}×) | "
            f"{a['torch']['detections_d2']} / {a['torch']['detections_ours']} / {a['onnxruntime']['detections_ours']} | "
            f"{differing(r, 'torch', 'category_diff_px', 'min_category_agreement')} / "
            f"{differing(r, 'onnxruntime', 'category_diff_px', 'min_category_agreement')} |")
    lines += ["", "## Targets (issue 22)", "", "| images | backend | target | measured | met |", "|---|---|---:|---:|---|"]
    for t in out["targets"]:
        measured = "–" if t["measured"] is None else f"{t['measured']:.2f}×"
        lines.append(f"| {t['set']} | ours {t['backend']} | ≥ {t['target']:.1f}× | {measured} | {'yes' if t['met'] else 'no'} |")
    lines += ["", "## Agreement with detectron2 (first round's outputs)", "",
              "| images | backend | images with the same detections | max box diff px | max score diff | images with the same segments | pixels of another category | pixels with another segment id | same segment after matching, worst image |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    for r in out["sets"]:
        for b in ("torch", "onnxruntime"):
            a = r["agreement"][b]
            lines.append(f"| {r['set']} | ours {b} | {a['images_same_detections']}/{a['images']} | {fmt(a['max_box_diff_px'], '.3g')} | "
                         f"{fmt(a['max_score_diff'], '.2g')} | {a['images_same_segments']}/{a['images']} | "
                         f"{differing(r, b, 'category_diff_px', 'min_category_agreement')} | {differing(r, b, 'id_diff_px', 'min_identical_ids')} | "
                         f"{100 * a['min_segment_agreement']:.4f} % |")
    lb, la = out["load_average_before"], out["load_average_after"]
    lines += ["", "Same detections: the same count and classes in the same order. Pixels of another category: the pixel's "
              "thing class / stuff channel / unassigned differs from detectron2's (summed over the set's images; '≤ x %': "
              "the worst image's share, from results without the counts). Another segment id: the id maps compared as "
              "arrays. Same segment after matching: each of our segments mapped to the detectron2 segment it overlaps most.",
              "detectron2 runs at the frame's size (its test size set to the frame's), ours torch at the frame's own size, "
              "ours ONNX Runtime at the frame's size rounded up to 32 (padded, not resized). ONNX exports (once per size, "
              f"not timed; seconds): {out['export_s']}.",
              f"Load average (1/5/15 min) before: {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f}, after: {la[0]:.2f} / {la[1]:.2f} / "
              f"{la[2]:.2f} ({info.get('cpu_cores')} cores, shared machine; per set in the JSON)."]
    if not out.get("complete", True):
        lines += ["", "**Incomplete run**: the image sets not listed did not finish."]
    if out.get("note"):
        lines += ["", out["note"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", type=Path, default=FIXTURE, help="detectron2 parity fixture (config.yaml, model_final.pth, images/)")
    ap.add_argument("--sizes", default="192x256,576x768,720x1280", help="synth-video frame sizes HxW, comma-separated")
    ap.add_argument("--frames", type=int, default=10, help="frames per synth-video clip")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds over each image set")
    ap.add_argument("--warmup", type=int, default=1, help="untimed calls of each predictor on the first image of each frame size first")
    ap.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    ap.add_argument("--out", type=Path, default=RESULTS / "vs_detectron2.json", help="results JSON (the .md goes beside it)")
    ap.add_argument("--render", type=Path, help="only rewrite the Markdown of this results JSON (no detectron2 needed)")
    ap.add_argument("--note", default="", help="a line added to the Markdown (e.g. what else ran on the machine)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.render:
        import json

        from trt_panoptic.bench.report import write_text

        md = markdown(json.loads(args.render.read_text()))
        write_text(args.render.with_suffix(".md"), md)
        print(md)
        return 0

    why = detectron2_missing()
    if why is not None:
        print(f"skipped: detectron2 not installed ({why}) — see the docstring of {Path(__file__).name} for how to build it")
        return 0

    import torch

    import detectron2
    from trt_panoptic.bench.report import machine_info, write_json, write_text
    from trt_panoptic.cli.main import main as cli

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    if load_before[0] > 1.5:
        logging.warning("1-min load average %.2f at the start (> 1.5): the machine is busy, timings are noisier", load_before[0])
    info = machine_info()
    info["versions"]["detectron2"] = getattr(detectron2, "__version__", None)
    info["versions"]["detectron2_path"] = str(Path(detectron2.__file__).parent.parent)
    try:
        import torchvision

        info["versions"]["torchvision"] = torchvision.__version__
    except ImportError:
        pass

    info["code"] = code_state()

    def write(rows: list[dict[str, Any]], export_s: dict[str, float], complete: bool) -> str:
        """The results so far (after every image set: a run cut short still leaves its finished sets)."""
        by_set = {r["set"]: r for r in rows}
        targets = []
        for (name, backend), target in TARGETS.items():
            measured = by_set[name]["speedup"][backend] if name in by_set else None
            targets.append({"set": name, "backend": backend, "target": target, "measured": measured,
                            "met": measured is not None and measured >= target})
        out = {"benchmark": "vs_detectron2", "complete": complete, "argv": sys.argv[1:], "fixture": str(args.fixture),
               "rounds": args.rounds, "warmup": args.warmup, "threads": args.threads, "frames": args.frames,
               "machine": info, "load_average_before": list(load_before), "load_average_after": list(os.getloadavg()),
               "export_s": export_s, "targets": targets, "sets": rows, "note": args.note}
        write_json(args.out, out)
        md = markdown(out)
        write_text(args.out.with_suffix(".md"), md)
        return md

    with tempfile.TemporaryDirectory(prefix="vs_detectron2_") as tmp:
        work = Path(tmp)
        weights = work / "converted.pt"
        if cli(["convert", str(args.fixture / "model_final.pth"), "--d2-config", str(args.fixture / "config.yaml"),
                "--out", str(weights)]) != 0:
            raise SystemExit("trt-panoptic convert failed")
        sets = image_sets(args.fixture, parse_sizes(args.sizes), args.frames, work)
        predictors = Predictors(args.fixture, weights, args.threads)
        rows: list[dict[str, Any]] = []
        for name, images in sets.items():
            rows.append(run_set(name, images, predictors, args.rounds, args.warmup))
            md = write(rows, predictors.export_s, complete=len(rows) == len(sets))
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
