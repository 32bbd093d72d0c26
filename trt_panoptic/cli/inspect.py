"""``trt-panoptic inspect``: what an ONNX holds and what TensorRT will make of it, or what an engine was built from.

Examples::

    trt-panoptic inspect model_trt.onnx
    trt-panoptic inspect model.onnx --json report.json
    trt-panoptic inspect model.engine          # its sidecar: TensorRT, GPU, precision, inputs, plugins, hashes
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ENGINE_SUFFIXES = (".engine", ".plan")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inspect", help="inspect an ONNX model for TensorRT, or an engine's build record",
                              description="Show an ONNX model's inputs/outputs, op histogram, plugin nodes and "
                                          "constructs TensorRT rejects or handles badly; for an engine, what its "
                                          "sidecar records (TensorRT version, GPU, compute capability, precision, "
                                          "inputs, plugin library and hashes). Needs no TensorRT.")
    p.add_argument("model", help="the .onnx file, or a .engine/.plan with its sidecar")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if Path(args.model).suffix.lower() in ENGINE_SUFFIXES:
        return _inspect_engine(args)
    from trt_panoptic.export.exporter import load_onnx
    from trt_panoptic.export.inspect import format_report, inspect_onnx

    report = inspect_onnx(load_onnx(args.model))
    print(format_report(report, args.model))
    if args.json:
        from trt_panoptic.atomic_io import atomic_write_text

        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2, default=str))
    return 0


def _inspect_engine(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from trt_panoptic.engine.sidecar import read_sidecar

    record = asdict(read_sidecar(args.model))
    config = record.pop("model_config", None)
    print(args.model)
    for key, value in record.items():
        if value not in (None, "", [], {}):
            print(f"  {key}: {value}")
    if config is not None:
        model = config.get("model", {})
        print(f"  model: {len(model.get('thing_classes', []))} thing and {len(model.get('stuff_classes', []))} stuff "
              "classes (config recorded)")
    if args.json:
        from trt_panoptic.atomic_io import atomic_write_text

        atomic_write_text(args.json, json.dumps({**record, "model_config": config}, indent=2))
    return 0
