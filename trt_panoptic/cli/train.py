"""``trt-panoptic train``: train a Panoptic FPN from a config.

    trt-panoptic train --config r18_fpn_tiny --out out/run [--resume] [--force] [--max-iter N]
    torchrun --nproc-per-node 2 -m trt_panoptic.cli.main train --config CFG --out DIR   # DDP (gloo on CPU, nccl on GPU)
"""
from __future__ import annotations

import argparse
import dataclasses
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model (one process, or DDP under torchrun)",
                              description="Train a Panoptic FPN on a COCO panoptic dataset; writes checkpoints, log.jsonl and "
                                          "model_final.pt (which records the input size it was trained at). r18_fpn_tiny: "
                                          "2,000 iterations, about 50 min on 2 CPU cores; --max-iter 100 for a quick try.")
    p.add_argument("--config", required=True, help="YAML config path or shipped name (e.g. r18_fpn_tiny)")
    p.add_argument("--out", required=True, help="output folder: checkpoints, log.jsonl, model_final.pt")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--force", action="store_true", help="delete a non-empty --out and start over")
    p.add_argument("--max-iter", type=int, default=None, help="override train.max_iter")
    p.add_argument("--train-data", default=None, help="override data.train (a COCO panoptic folder)")
    p.add_argument("--val-data", default=None, help="override data.val")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: CUDA when available")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.config import load_config
    from trt_panoptic.errors import TrtPanopticError
    from trt_panoptic.training import train

    if args.resume and args.force:
        raise TrtPanopticError("--resume and --force should not be combined — --resume keeps --out, --force deletes it")
    cfg = load_config(args.config)
    if args.max_iter is not None:
        cfg.train = dataclasses.replace(cfg.train, max_iter=args.max_iter)
    if args.train_data is not None:
        cfg.data.train = args.train_data
    if args.val_data is not None:
        cfg.data.val = args.val_data
    result = train(cfg, args.out, resume=args.resume, force=args.force, device=args.device, num_threads=args.threads)
    if result.final_weights is not None:
        summary = {k: result.metrics[k] for k in ("PQ", "PQ_th", "PQ_st", "mIoU") if k in result.metrics}
        print(f"trained iterations {result.start_iter}..{result.max_iter} in {result.wall_s:.0f} s; "
              f"weights: {result.final_weights}" + (f"; val {json.dumps(summary)}" if summary else ""))
    return 0
