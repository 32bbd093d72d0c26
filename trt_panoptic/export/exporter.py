"""``export_onnx``: a trained PanopticFPN → the portable or TensorRT-flavour ONNX, FP32 or FP16-typed.

The graph comes from the static-shape twin :class:`~trt_panoptic.export.graph_model.PanopticGraphModel`,
traced by the TorchScript exporter (``dynamo=False``: our RoiAlign / NonMaxSuppression twins are
autograd Functions with an ONNX ``symbolic``, and the result is a plain graph of standard ops), then
cleaned by onnx-graphsurgeon (constant folding, dead nodes, topological order). The config travels in the
model's metadata (``trt_panoptic.config``), so an ONNX file is enough to build a Predictor.
"""
from __future__ import annotations

import io
import json
import logging
import os
import warnings
from pathlib import Path

import onnx
import torch

from trt_panoptic.config import Config
from trt_panoptic.atomic_io import atomic_write_bytes
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.contract import write_metadata
from trt_panoptic.export.graph_model import PanopticGraphModel, check_batch
from trt_panoptic.export.surgery import to_tensorrt_flavor
from trt_panoptic.export.tail_ops import expand_panoptic_fusion
from trt_panoptic.modeling import PanopticFPN

logger = logging.getLogger(__name__)

FLAVORS = ("portable", "tensorrt")
#: RoiAlign's coordinate_transformation_mode needs opset 16; 17 is the first the TorchScript exporter and
#: TensorRT 8.6+/10.x both handle well; above 20 the TorchScript exporter stops.
MIN_OPSET, MAX_OPSET, DEFAULT_OPSET = 17, 20, 17
#: Name of the dynamic batch dimension on every input and output of a dynamic-batch export.
BATCH_AXIS = "batch"


def _cleanup(model: onnx.ModelProto) -> onnx.ModelProto:
    from trt_panoptic.errors import import_optional

    gs = import_optional("onnx_graphsurgeon", "pip install onnx-graphsurgeon")
    # shapes first, so that Shape→Slice→Concat chains on our static sizes fold into constants
    from onnx_graphsurgeon.logger import G_LOGGER

    severity, G_LOGGER.severity = G_LOGGER.severity, G_LOGGER.ERROR  # its warnings go to stdout; we log what matters
    try:
        graph = gs.import_onnx(onnx.shape_inference.infer_shapes(model))
        # 1 MiB cap: the per-class NMS one-hot ([K, R·K], 6 MiB for COCO) is cheaper computed than stored
        graph.fold_constants(size_threshold=1 << 20).cleanup().toposort()
    finally:
        G_LOGGER.severity = severity
    out = gs.export_onnx(graph)
    out.ir_version = model.ir_version
    del out.opset_import[:]
    out.opset_import.extend(model.opset_import)
    return out


def check_batch_options(batch: int, dynamic_batch: bool, flavor: str, panoptic_tail: bool) -> None:
    """One-line errors for a batch the export cannot make: not a positive integer, or dynamic with the portable
    panoptic tail (its standard-op expansion unrolls a fixed batch; the plugin node and the host tail take any)."""
    check_batch(batch)
    if dynamic_batch and flavor == "portable" and panoptic_tail:
        raise TrtPanopticError(f"a dynamic batch 1-{batch} should come with --host-tail or --flavor tensorrt, got the "
                               f"portable panoptic tail (it unrolls a fixed batch) — use --batch {batch}, or add --host-tail")


def export_onnx(
    model: PanopticFPN, cfg: Config, *, height: int, width: int, flavor: str = "portable", fp16: bool = False,
    opset: int = DEFAULT_OPSET, raw_outputs: bool = False, panoptic_tail: bool = True, batch: int = 1,
    dynamic_batch: bool = False,
) -> onnx.ModelProto:
    """Export ``model`` for a fixed ``height`` × ``width`` (pixels, multiples of 32) and a batch of B images (fixed,
    or 1..B with ``dynamic_batch``).

    Inputs ``image`` uint8 [B, 3, H, W] BGR and ``valid_hw`` int32 [B, 2] (each frame inside its padded input:
    the graph zeroes the padding after normalization and clips boxes to the frame); outputs as
    :mod:`trt_panoptic.export.graph_model` documents, each leading with B; each image's equal those of a
    batch-1 graph on it alone. Both flavours end in the panoptic map: the TensorRT
    flavour with the PanopticFusion plugin node, the portable one with the same computation in standard ops
    (:mod:`trt_panoptic.export.tail_ops`).

    Args:
        flavor: "portable" (standard ops) or "tensorrt" (plugin nodes after surgery).
        fp16: FP16-typed graph (backbone and heads in FP16, box decoding/NMS/softmax in FP32).
        opset: ONNX opset, 17..20.
        raw_outputs: keep ``mask_probs`` among the outputs (for per-instance masks) when the graph has the tail.
        panoptic_tail: end in the panoptic map; False stops at the detections (``mask_probs`` out) and
            leaves pasting and fusion to the host — faster on a CPU that has the plugins'
            host build, whose C++ fusion beats ONNX Runtime running the standard-op tail.
        batch: B, images per run (recorded in the metadata, ``trt_panoptic.batch``); a runtime with fewer
            images pads the batch.
        dynamic_batch: the batch dimension is dynamic (named "batch" on every input and output), 1..``batch``
            (recorded as "1-B"); TensorRT takes its range from ``build --max-batch``. The portable panoptic tail
            unrolls a fixed batch, so a dynamic one needs ``panoptic_tail=False`` or the TensorRT flavour.
    """
    if flavor not in FLAVORS:
        raise TrtPanopticError(f"flavor should be one of {', '.join(FLAVORS)}, got {flavor!r} — pick one of them")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise TrtPanopticError(f"opset should be in {MIN_OPSET}..{MAX_OPSET}, got {opset} — use --opset {DEFAULT_OPSET}")
    check_batch_options(batch, dynamic_batch, flavor, panoptic_tail)
    graph_model = PanopticGraphModel(model.eval(), height, width, half=fp16, panoptic_tail=panoptic_tail,
                                     raw_outputs=raw_outputs, batch=batch).eval()
    dummy = (torch.zeros((batch, 3, height, width), dtype=torch.uint8),
             torch.tensor([[height, width]] * batch, dtype=torch.int32))
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python ints: the graph is fixed-size by design
        torch.onnx.export(graph_model, dummy, buf, dynamo=False, opset_version=opset,
                          input_names=graph_model.input_names, output_names=graph_model.output_names,
                          do_constant_folding=True, custom_opsets={"trt_panoptic": 1} if panoptic_tail else None,
                          dynamic_axes=_batch_axes(graph_model) if dynamic_batch else None)
    proto = _cleanup(onnx.load_from_string(buf.getvalue()))
    if flavor == "portable" and panoptic_tail:
        proto = expand_panoptic_fusion(onnx.shape_inference.infer_shapes(proto))
    if flavor == "tensorrt":
        h = cfg.model.roi_heads
        proto = to_tensorrt_flavor(proto, canonical_box_size=h.canonical_box_size, canonical_level=h.canonical_level)
    proto = onnx.shape_inference.infer_shapes(proto)
    proto.producer_name = "trt_panoptic"
    return write_metadata(proto, config=json.dumps(cfg.to_dict()), height=str(height), width=str(width),
                          flavor=flavor, precision="fp16" if fp16 else "fp32",
                          batch=f"1-{batch}" if dynamic_batch else str(batch))


def _batch_axes(graph_model: PanopticGraphModel) -> dict[str, dict[int, str]]:
    """Dimension 0 of every input and output named "batch" (the TorchScript exporter's dynamic axes)."""
    return {name: {0: BATCH_AXIS} for name in [*graph_model.input_names, *graph_model.output_names]}


def save_onnx(model: onnx.ModelProto, path: str | os.PathLike) -> Path:
    """Write ``model`` atomically (temp file, then rename); an unwritable path is a one-line error."""
    return atomic_write_bytes(path, model.SerializeToString())


def load_onnx(path: str | os.PathLike) -> onnx.ModelProto:
    """Read and check an ONNX file; missing, truncated or corrupt files raise one line."""
    path = Path(path)
    if not path.is_file():
        raise TrtPanopticError(f"ONNX file {path} should exist, got no such file — export it with trt-panoptic export")
    try:
        model = onnx.load(str(path))
        if not model.graph.node:
            raise ValueError("empty graph")
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf DecodeError, checker ValidationError, ...
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TrtPanopticError(f"{path} should be a valid ONNX model, got a corrupt or truncated file ({msg}) — re-export it") from None
    return model
