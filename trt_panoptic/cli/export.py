"""``trt-panoptic export``: a checkpoint → portable or TensorRT-flavour ONNX (FP32 or FP16-typed).

Examples::

    trt-panoptic export --height 256 --width 256 --out model.onnx
    trt-panoptic export --weights model.pt --height 512 --width 512 --out model_trt.onnx --flavor tensorrt --fp16
    trt-panoptic export --height 256 --width 256 --batch 4 --out model_b4.onnx        # 4 images per run
    trt-panoptic export --height 256 --width 256 --batch 1-4 --flavor tensorrt --out model_dyn.onnx  # 1..4

Every argument the command changes is announced; the export is timed and the written file is checked
(onnx checker, then one ONNX Runtime run with the plugin ops registered when the graph has any).
"""
from __future__ import annotations

import argparse
import difflib
import logging
import time
from pathlib import Path

from trt_panoptic.errors import TrtPanopticError

logger = logging.getLogger(__name__)

FLAVOR_ALIASES = {"portable": "portable", "onnx": "portable", "standard": "portable", "tensorrt": "tensorrt",
                  "trt": "tensorrt", "plugins": "tensorrt"}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a model to ONNX (portable or TensorRT flavour)",
                              description="Export a Panoptic FPN checkpoint to ONNX for one fixed input size and batch.")
    p.add_argument("--weights", help="checkpoint (.pt); default: the bundled model")
    p.add_argument("--config", help="config name or YAML (default: the one stored in the checkpoint)")
    p.add_argument("--height", type=int, help="input height in pixels, a multiple of 32 (default: the model's "
                                              "recorded model.input.size)")
    p.add_argument("--width", type=int, help="input width in pixels, a multiple of 32 (default: the model's)")
    p.add_argument("--out", required=True, help="output .onnx path")
    p.add_argument("--flavor", default="portable", help="portable (standard ops) | tensorrt (plugin nodes); default portable")
    p.add_argument("--fp16", action="store_true", help="FP16-typed graph (box decoding and NMS scores stay FP32)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 17..20 (default 17)")
    p.add_argument("--raw-outputs", action="store_true",
                   help="also output mask_probs (the graph ends in the panoptic map and drops them otherwise)")
    p.add_argument("--host-tail", action="store_true",
                   help="stop at the detections (mask_probs out): the host pastes and fuses (faster on a CPU with "
                        "the plugins' host build; needs no Loop/GridSample/plugin in the runtime)")
    p.add_argument("--batch", default="1", metavar="N|1-N",
                   help="images per run: N (a fixed batch; a runtime pads a short one) or 1-N (a dynamic batch "
                        "dimension; needs --host-tail or --flavor tensorrt; TensorRT takes its range from build "
                        "--max-batch); default 1")
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime check run of the written file")
    p.set_defaults(func=run)


def parse_batch(text: str) -> tuple[int, bool]:
    """``--batch`` → (N, dynamic): "N" is a fixed batch of N images, "1-N" a dynamic batch of 1..N."""
    low, dash, high = text.strip().partition("-")
    ok = low.isdigit() and int(low) >= 1 and (not dash or (high.isdigit() and int(low) == 1 and int(high) >= 1))
    if not ok:
        raise TrtPanopticError(f"--batch should be a positive integer N or a range 1-N, got {text!r} — e.g. --batch 4 "
                               "or --batch 1-4")
    return (int(high), True) if dash else (int(low), False)


def resolve_flavor(name: str) -> str:
    """The flavour for ``name`` or an alias of it; a typo gets a close-match suggestion."""
    key = name.strip().lower()
    if key in FLAVOR_ALIASES:
        return FLAVOR_ALIASES[key]
    close = difflib.get_close_matches(key, list(FLAVOR_ALIASES), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "use portable or tensorrt"
    raise TrtPanopticError(f"--flavor should be portable or tensorrt, got {name!r} — {hint}")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from trt_panoptic.atomic_io import check_output_file
    from trt_panoptic.export.contract import onnx_info
    from trt_panoptic.export.exporter import check_batch_options, export_onnx, load_onnx, save_onnx
    from trt_panoptic.export.graph_model import VALID_HW_NAME, check_export_size
    from trt_panoptic.export.ort_ops import ort_session
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.runtime.factory import check_input_size

    flavor = resolve_flavor(args.flavor)
    if flavor != args.flavor:
        logger.info("export: --flavor %s → %s", args.flavor, flavor)
    batch, dynamic = parse_batch(args.batch)  # before the model loads: fail fast
    check_batch_options(batch, dynamic, flavor, panoptic_tail=not args.host_tail)
    check_input_size(args.height, args.width)  # together or not at all, within the predictors' limit
    if args.height is not None:
        check_export_size(args.height, args.width)  # before the model loads: fail fast
    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        logger.info("export: --out %s → %s (ONNX files end in .onnx)", out, out.with_suffix(".onnx"))
        out = out.with_suffix(".onnx")
    check_output_file(out, "--out")  # before the model loads and exports (tens of seconds): fail fast
    if args.weights is None:
        logger.info("export: --weights not given → the bundled model")
    model, cfg = load_model(args.weights, args.config)
    if args.height is None:
        if not cfg.model.input.size:
            raise TrtPanopticError("--height and --width should be given: the model records no input size "
                                   "(model.input.size) — e.g. --height 512 --width 512")
        args.height, args.width = cfg.model.input.size
        logger.info("export: input %dx%d, the model's own size (model.input.size)", args.height, args.width)
    start = time.perf_counter()
    proto = export_onnx(model, cfg, height=args.height, width=args.width, flavor=flavor, fp16=args.fp16, opset=args.opset,
                        raw_outputs=args.raw_outputs, panoptic_tail=not args.host_tail, batch=batch,
                        dynamic_batch=dynamic)
    save_onnx(proto, out)
    elapsed = time.perf_counter() - start
    size_mb = out.stat().st_size / 2**20
    logger.info("export: %s ONNX (%s, opset %d, %dx%d, batch %s) written to %s in %.1f s (%.1f MB)", flavor,
             "fp16" if args.fp16 else "fp32", args.opset, args.height, args.width, f"1-{batch}" if dynamic else batch,
             out, elapsed, size_mb)
    if not args.no_check:
        checked = load_onnx(out)
        onnx_info(checked, str(out))
        start = time.perf_counter()
        session = ort_session(checked)
        feed = {"image": np.zeros((batch, 3, args.height, args.width), np.uint8)}
        if any(i.name == VALID_HW_NAME for i in session.get_inputs()):
            feed[VALID_HW_NAME] = np.asarray([[args.height, args.width]] * batch, np.int32)
        outputs = session.run(None, feed)
        logger.info("export: check passed (onnx checker + one ONNX Runtime run, %.2f s, %d outputs)",
                 time.perf_counter() - start, len(outputs))
    print(out)
    return 0
