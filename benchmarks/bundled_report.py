"""Package the bundled model: copy a training run's final weights into ``trt_panoptic/weights`` and write its
sidecar (``r18_fpn_tiny_synth.json``) and the benchmark results (``benchmarks/results/bundled_model.{json,md}``).

    python benchmarks/bundled_report.py --run out/bundled_r18 --metrics out/bundled_r18/test_metrics.json \
        --command benchmarks/train_bundled.sh

Training wall time comes from the run's ``log.jsonl``: ``time_s`` restarts at 0 in every process, so a run
that was stopped and resumed is the sum of its segments (the last one closed by the end record).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trt_panoptic.bench.report import cpu_model  # noqa: E402
from trt_panoptic.config import config_from_dict  # noqa: E402
from trt_panoptic.modeling.checkpoint import BUNDLED_WEIGHTS, load_model, read_checkpoint  # noqa: E402

MAX_BYTES = 20 * 1024 * 1024


def training_time(log: list[dict], checkpoint_period: int) -> tuple[float, int]:
    """(seconds of training summed over process segments, number of segments).

    A stopped segment's last logged iteration can lie a few iterations before the checkpoint the next
    segment resumed from (logging is every ``log_period``); those iterations are added at that segment's
    mean speed. The last segment ends with the trainer's end record.
    """
    segments: list[dict] = []
    for r in log:
        if "loss" in r:
            if not segments or r["time_s"] < segments[-1]["time"]:
                start = ((r["iter"] - 1) // checkpoint_period) * checkpoint_period if segments else 0
                segments.append({"start": start, "iter": r["iter"], "time": r["time_s"]})
            segments[-1].update(iter=r["iter"], time=r["time_s"])
        if r.get("done") and segments:
            segments[-1]["time"] = max(segments[-1]["time"], r["train_s"])
    total = 0.0
    for seg, nxt in zip(segments, segments[1:] + [None]):
        total += seg["time"]
        if nxt is not None and nxt["start"] > seg["iter"]:
            total += (nxt["start"] - seg["iter"]) * seg["time"] / max(seg["iter"] - seg["start"], 1)
    return total, len(segments)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--metrics", required=True, type=Path, help="trt-panoptic eval --json output on the test set")
    ap.add_argument("--command", required=True, help="the command that reproduces the run")
    ap.add_argument("--train-command", default="python -m trt_panoptic.cli.main train --config r18_fpn_tiny "
                    "--out out/bundled_r18 --threads 1 --train-data out/synth_train --val-data out/synth_val",
                    help="the training command line, recorded in the sidecar")
    ap.add_argument("--weights-out", type=Path, default=BUNDLED_WEIGHTS)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "bundled_model")
    ap.add_argument("--notes", default="", help="how the run went (stops, resumes, choices), recorded verbatim")
    args = ap.parse_args()

    ckpt = read_checkpoint(args.run / "model_final.pt")
    cfg = config_from_dict(ckpt["config"])
    log = [json.loads(line) for line in (args.run / "log.jsonl").read_text().splitlines() if line.strip()]
    metrics = json.loads(args.metrics.read_text())
    train_s, segments = training_time(log, cfg.train.checkpoint_period)
    done = [r for r in log if r.get("done")]
    threads = done[-1]["threads"] if done else None
    images = cfg.train.max_iter * cfg.train.ims_per_batch

    args.weights_out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.weights_out.with_suffix(".pt.tmp")
    torch.save({"model": ckpt["model"], "config": ckpt["config"],
                "meta": {**ckpt.get("meta", {}), "trained_by": "trt-panoptic train", "name": args.weights_out.stem}}, tmp)
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        raise SystemExit(f"{args.weights_out.name} would be {size / 1e6:.1f} MB, over the 20 MB limit")
    tmp.replace(args.weights_out)
    load_model(args.weights_out)  # it must load as the bundled model does
    sha = hashlib.sha256(args.weights_out.read_bytes()).hexdigest()

    summary = {k: metrics[k] for k in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU")}
    evals = [{"iter": r["iter"], **{k: r["eval"][k] for k in ("PQ", "PQ_th", "PQ_st", "mIoU", "num_images")}}
             for r in log if "eval" in r]
    machine = {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
               "python": platform.python_version(), "platform": platform.platform(),
               "note": "2-core CPU shared with other jobs during training; times are wall-clock"}
    record = {
        "name": args.weights_out.stem,
        "config": "r18_fpn_tiny",
        "command": args.command,
        "train_command": args.train_command,
        "data_commands": [f"python -m trt_panoptic.cli.main data synth --out out/{name} --num-images {n} --seed {seed} --size 256x256"
                          for name, n, seed in (("synth_train", 3000, 1), ("synth_val", 100, 1000), ("synth_test", 200, 2000))],
        "train": {"max_iter": cfg.train.max_iter, "ims_per_batch": cfg.train.ims_per_batch, "base_lr": cfg.train.base_lr,
                  "steps": cfg.train.steps, "warmup_iters": cfg.train.warmup_iters, "clip_grad_norm": cfg.train.clip_grad_norm,
                  "min_size": cfg.train.min_size, "max_size": cfg.train.max_size, "flip": cfg.train.flip,
                  "data": "3000 synthetic 256x256 images, seed 1",
                  "wall_s": round(train_s, 1), "images_per_s": round(images / train_s, 3), "process_segments": segments},
        "metrics": {**{k: round(v, 2) for k, v in summary.items()},
                    "data": "200 synthetic 256x256 images, seed 2000 (never used in training)",
                    "num_images": metrics["num_images"], "inference_images_per_s": round(metrics["images_per_s"], 2),
                    "backend": metrics["backend"], "per_class_pq": {n: round(m["pq"], 2) for n, m in metrics["per_class"].items()}},
        "val_during_training": evals,
        "weights": {"file": args.weights_out.name, "bytes": size, "sha256": sha},
        "machine": machine,
        "notes": args.notes,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    text = json.dumps(record, indent=2) + "\n"
    args.weights_out.with_suffix(".json").write_text(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(text)

    lines = [
        f"# Bundled model `{args.weights_out.name}`",
        "",
        f"r18_fpn_tiny (ResNet-18 ×0.5, BN, 64-ch FPN, {sum(v.numel() for v in ckpt['model'].values()) / 1e6:.2f} M values) "
        f"trained from scratch by `trt-panoptic train` on 3000 synthetic 256×256 images; reproduce with `{args.command}`.",
        "",
        "| metric (200 test images, seed 2000) | value |",
        "|---|---|",
        *[f"| {k} | {v:.1f} |" for k, v in summary.items()],
        "",
        "| training | value |",
        "|---|---|",
        f"| iterations × batch | {cfg.train.max_iter} × {cfg.train.ims_per_batch} |",
        f"| wall time | {train_s / 60:.1f} min ({segments} process segment{'s' if segments > 1 else ''}) |",
        f"| images/s | {images / train_s:.2f} |",
        f"| machine | {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, {threads} thread(s); shared with other jobs |",
        f"| inference (torch, test set) | {metrics['images_per_s']:.2f} images/s |",
        "",
        "Per-class PQ: " + ", ".join(f"{n} {m['pq']:.1f}" for n, m in metrics["per_class"].items()),
        "",
        "Validation during training (seed 1000 subset):",
        "",
        "| iter | PQ | PQ_th | PQ_st | mIoU | images |",
        "|---|---|---|---|---|---|",
        *[f"| {e['iter']} | {e['PQ']:.1f} | {e['PQ_th']:.1f} | {e['PQ_st']:.1f} | {e['mIoU']:.1f} | {e['num_images']} |" for e in evals],
        "",
        *([f"Notes: {args.notes}", ""] if args.notes else []),
    ]
    args.results.with_suffix(".md").write_text("\n".join(lines))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
