"""``trt-panoptic eval``: score a model on a COCO panoptic dataset (PQ, SQ, RQ, PQ_th, PQ_st, mIoU in percent).

    trt-panoptic eval --data out/synth_val --json metrics.json                      # the bundled model, torch
    trt-panoptic eval --data DIR --weights out/run/model_final.pt --json m.json
    trt-panoptic eval --data DIR --backend onnxruntime --model model.onnx --json m.json
    trt-panoptic eval --data DIR --backend tensorrt --model model.engine --json m.json

Predictions are written in COCO panoptic format (``panoptic/*.png`` + ``panoptic.json``) to
``--pred-out`` (default: beside the JSON, ``<name>_predictions/``), so panopticapi can re-score them.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

SUMMARY_KEYS = ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU")


def register(subparsers: argparse._SubParsersAction) -> None:
    from trt_panoptic.runtime.factory import BACKENDS

    p = subparsers.add_parser("eval", help="panoptic quality and mIoU of a model on a COCO panoptic dataset")
    p.add_argument("--data", required=True, help="dataset folder (images/, panoptic/, panoptic.json)")
    p.add_argument("--json", required=True, help="metrics output file (JSON)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="inference backend (default: auto = TensorRT for an engine, ONNX Runtime for an ONNX or on the CPU, "
                        "torch on a GPU)")
    p.add_argument("--weights", help="PyTorch checkpoint (default: the bundled model)")
    p.add_argument("--config", help="config for --weights (default: the one stored in the checkpoint)")
    p.add_argument("--model", help="ONNX file (onnxruntime) or TensorRT engine (tensorrt)")
    p.add_argument("--plugins", help="tensorrt: the plugin library to load (default: the one the engine's sidecar "
                                     "names, if it is this package's own build)")
    p.add_argument("--trust-sidecar-plugins", action="store_true",
                   help="tensorrt: load the library the engine's sidecar names wherever it is")
    p.add_argument("--height", type=int,
                   help="model input height in pixels (default: the model's own size; torch: each image's own)")
    p.add_argument("--width", type=int, help="model input width in pixels")
    p.add_argument("--device", default="cpu", help="device of the torch backends: cpu, cuda or cuda:N (default: cpu; with a GPU and a checkpoint, auto picks torch-cudagraph)")
    p.add_argument("--pred-out", help="folder for the COCO panoptic predictions (default: <json name>_predictions)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="evaluate only the first N images")
    p.add_argument("--force", action="store_true", help="replace an existing --pred-out folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.atomic_io import (atomic_write_text, check_apart_from_inputs, check_output_dir, check_output_file,
                                        check_writable_dir)
    from trt_panoptic.data.coco_panoptic import load_coco_panoptic
    from trt_panoptic.errors import TrtPanopticError
    from trt_panoptic.evaluation import evaluate_predictor
    from trt_panoptic.runtime import create_predictor
    from trt_panoptic.runtime.predictor import input_size

    out = Path(args.json)
    if out.suffix.lower() != ".json":
        raise TrtPanopticError(f"--json should be a .json file, got {str(out)!r} — e.g. --json metrics.json")
    if out.is_dir():
        raise TrtPanopticError(f"--json should be a file, got the folder {out} — name a file inside it")
    pred_out = Path(args.pred_out) if args.pred_out else out.with_name(out.stem + "_predictions")
    if args.limit is not None and args.limit < 1:
        raise TrtPanopticError(f"--limit should be ≥ 1, got {args.limit} — or leave it out to evaluate every image")
    dataset = load_coco_panoptic(args.data)  # checks the dataset before the model is built
    # the metrics and the predictions never land on the dataset (its folder, JSON, images, PNGs) or the model
    inputs = {"--data": args.data, "the ground-truth JSON": dataset.json_path,
              **({"--model": args.model} if args.model else {}), **({"--weights": args.weights} if args.weights else {})}
    if dataset.records:
        inputs |= {"the images": dataset.records[0].image_path.parent, "the PNGs": dataset.records[0].panoptic_path.parent}
    check_apart_from_inputs(out, inputs, "--json")
    check_apart_from_inputs(pred_out, inputs, "--pred-out")
    check_output_dir(pred_out, args.force, "--pred-out")  # before the model loads: fail fast
    check_output_file(out, "--json")
    check_writable_dir(pred_out.parent, "--pred-out")
    predictor = create_predictor(args.backend, model=args.model, weights=args.weights, config=args.config,
                                 height=args.height, width=args.width, device=args.device, plugins=args.plugins,
                                 trust_sidecar_plugins=args.trust_sidecar_plugins)
    metrics = evaluate_predictor(predictor, args.data, pred_out=pred_out, force=args.force, limit=args.limit,
                                 progress=not args.no_progress)
    names = {cid: name for ids, cat_names in ((dataset.categories.thing_ids, dataset.categories.thing_names),
                                              (dataset.categories.stuff_ids, dataset.categories.stuff_names))
             for cid, name in zip(ids, cat_names)}
    report = {
        **{k: metrics[k] for k in SUMMARY_KEYS},
        "num_images": metrics["num_images"],
        "images_per_s": metrics["images_per_s"],
        "backend": predictor.backend,
        "input_size": input_size(predictor),
        "weights": args.weights or ("bundled" if not args.model else None),
        "model": args.model,
        "data": str(args.data),
        "predictions": str(pred_out),
        "per_class": {names.get(int(cid), str(cid)): {k: 100.0 * v for k, v in m.items()}
                      for cid, m in metrics["pq"]["per_class"].items()},
        "pq": metrics["pq"],
        "miou": metrics["miou"],
    }
    atomic_write_text(out, json.dumps(report, indent=2, default=_jsonable) + "\n")
    print(" ".join(f"{k} {metrics[k]:.1f}" for k in SUMMARY_KEYS)
          + f"  ({metrics['num_images']} images, {metrics['images_per_s']:.2f} img/s, {report['backend']} at "
            f"{report['input_size']}) → {out}")
    return 0


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
