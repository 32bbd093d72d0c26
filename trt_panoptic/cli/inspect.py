"""``trt-panoptic inspect model.onnx``: I/O, op histogram, plugin nodes and TensorRT warnings of an ONNX.

Examples::

    trt-panoptic inspect model_trt.onnx
    trt-panoptic inspect model.onnx --json report.json
"""
from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("inspect", help="inspect an ONNX model for TensorRT",
                              description="Show an ONNX model's inputs/outputs, op histogram, plugin nodes and "
                                          "constructs TensorRT rejects or handles badly.")
    p.add_argument("model", help="the .onnx file")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trt_panoptic.export.exporter import load_onnx
    from trt_panoptic.export.inspect import format_report, inspect_onnx

    report = inspect_onnx(load_onnx(args.model))
    print(format_report(report, args.model))
    if args.json:
        from trt_panoptic.atomic_io import atomic_write_text

        atomic_write_text(args.json, json.dumps(report.to_dict(), indent=2, default=str))
    return 0
