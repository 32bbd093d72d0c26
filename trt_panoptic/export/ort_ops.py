"""Our TensorRT plugins as ONNX Runtime custom ops (onnxruntime-extensions), so the TensorRT flavour runs on a CPU.

Each plugin op computes what the plugin computes: by default through the host library
(:mod:`trt_panoptic.plugins.host`, the plugin kernels' own math compiled for the CPU); where that library
cannot be built (no C++ compiler) through the PyTorch reference (:func:`trt_panoptic.ops.multilevel_roi_align`,
bilinear upsample + argmax). :func:`active_implementation` says which one runs.

onnxruntime-extensions registers Python ops in the domain ``ai.onnx.contrib`` with FP32 inputs, so
:func:`prepare_for_ort` rewrites an in-memory copy of the model: plugin nodes move to that domain, and FP16
tensors around them get Casts (the host library computes in FP32). The file on disk is never changed.
"""
from __future__ import annotations

import logging
import threading

import numpy as np
import onnx

from trt_panoptic.errors import TrtPanopticError, import_optional
from trt_panoptic.export.contract import PLUGIN_FIELDS
from trt_panoptic.export.surgery import plugin_nodes

logger = logging.getLogger(__name__)

ORT_CONTRIB_DOMAIN = "ai.onnx.contrib"
_lock = threading.Lock()
_registered: dict[str, str] = {}  # registration is process-wide in onnxruntime-extensions: do it once


def _host_or_none():
    try:
        from trt_panoptic.plugins import host

        host.load_library()
        return host
    except Exception as exc:  # no compiler, build failure: fall back to the torch reference
        logger.warning("plugin host library unavailable (%s); plugin ops use the PyTorch reference", exc)
        return None


def _roi_align_fpn_torch(rois, p2, p3, p4, p5, output_size, sampling_ratio, aligned, canonical_box_size, canonical_level):
    import torch

    from trt_panoptic.ops import multilevel_roi_align

    r = torch.from_numpy(np.ascontiguousarray(rois, dtype=np.float32))
    if r.shape[1] == 4:
        r = torch.cat([torch.zeros_like(r[:, :1]), r], dim=1)
    feats = [torch.from_numpy(np.ascontiguousarray(f, dtype=np.float32)) for f in (p2, p3, p4, p5)]
    out = multilevel_roi_align(feats, r, output_size, [4, 8, 16, 32], sampling_ratio, bool(aligned),
                               canonical_box_size, canonical_level)
    return out.numpy()


def _semantic_upsample_argmax_torch(logits, scale_factor):
    import torch
    from torch.nn import functional as F

    x = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    up = F.interpolate(x, scale_factor=scale_factor, mode="bilinear", align_corners=False)
    return up.argmax(dim=1).to(torch.int32).numpy()


def _panoptic_fusion_torch(labels, masks, boxes, scores, classes, num, valid_hw, fields):
    """PanopticFusion image by image with the tensor version of the tail (same results as the plugin)."""
    import torch

    from trt_panoptic.postprocess.panoptic_tail import panoptic_table

    n, h, w = labels.shape
    d = boxes.shape[1]
    panoptic = np.zeros((n, h, w), np.int32)
    table = np.zeros((n, d + fields["num_stuff"], 10), np.float32)
    count = np.zeros(n, np.int32)
    rules = {k: fields[k] for k in ("instance_score_thresh", "overlap_thresh", "stuff_area_limit", "mask_threshold")}
    for i in range(n):
        vh, vw = (int(v) for v in valid_hw[i])
        k = int(num[i])
        pan, tab = panoptic_table(torch.from_numpy(labels[i, :vh, :vw]), torch.from_numpy(masks[i, :k]),
                                  torch.from_numpy(boxes[i, :k]), torch.from_numpy(scores[i, :k]),
                                  torch.from_numpy(classes[i, :k]), **rules, implementation="torch")
        panoptic[i, :vh, :vw] = pan.numpy()
        table[i, : len(tab)] = tab.numpy()
        count[i] = len(tab)
    return panoptic, table, count


def register_plugin_ops(implementation: str = "auto") -> str:
    """Register RoIAlignFPN, SemanticUpsampleArgmax and PanopticFusion with onnxruntime-extensions (once per process).

    Args:
        implementation: "host" (plugin kernels' host build), "torch" (PyTorch reference) or "auto" (host if it
            loads, else torch).

    Returns:
        the implementation registered ("host" or "torch"). The first call decides for the whole process.
    """
    import_optional("onnxruntime_extensions", "pip install onnxruntime-extensions")
    from onnxruntime_extensions import PyCustomOpDef, onnx_op

    from trt_panoptic.plugins.host import field_decimal

    with _lock:
        if "impl" in _registered:
            return _registered["impl"]
        host = None if implementation == "torch" else _host_or_none()
        if implementation == "host" and host is None:
            raise TrtPanopticError("the plugin host library should load, got a build failure — install a C++ compiler (g++) or use implementation='torch'")
        impl = "host" if host is not None else "torch"
        string, int64, f32 = PyCustomOpDef.dt_string, PyCustomOpDef.dt_int64, PyCustomOpDef.dt_float
        roi_attrs = {"plugin_version": string, "plugin_namespace": string, **{k: int64 for k in PLUGIN_FIELDS["RoIAlignFPN"]}}
        sem_attrs = {"plugin_version": string, "plugin_namespace": string, **{k: int64 for k in PLUGIN_FIELDS["SemanticUpsampleArgmax"]}}

        @onnx_op(op_type="RoIAlignFPN", inputs=[f32] * 5, outputs=[f32], attrs=roi_attrs)
        def roi_align_fpn(rois, p2, p3, p4, p5, **attrs):  # noqa: ANN001
            f = {k: int(attrs[k]) for k in PLUGIN_FIELDS["RoIAlignFPN"]}
            if host is not None:
                return host.roi_align_fpn(np.asarray(rois, np.float32), [p2, p3, p4, p5], **f)
            return _roi_align_fpn_torch(rois, p2, p3, p4, p5, **f)

        @onnx_op(op_type="SemanticUpsampleArgmax", inputs=[f32], outputs=[PyCustomOpDef.dt_int32], attrs=sem_attrs)
        def semantic_upsample_argmax(logits, **attrs):  # noqa: ANN001
            if int(attrs.get("with_score", 0)):
                raise TrtPanopticError("SemanticUpsampleArgmax with_score=1 should not appear in our exports, got it — re-export the model")
            s = int(attrs["scale_factor"])
            if host is not None:
                return host.semantic_upsample_argmax(np.asarray(logits, np.float32), scale_factor=s)
            return _semantic_upsample_argmax_torch(logits, s)

        fusion_attrs = {"plugin_version": string, "plugin_namespace": string,
                        "instance_score_thresh": f32, "overlap_thresh": f32, "mask_threshold": f32,
                        "stuff_area_limit": int64, "num_stuff": int64}
        i32 = PyCustomOpDef.dt_int32

        @onnx_op(op_type="PanopticFusion", inputs=[i32, f32, f32, f32, i32, i32, i32], outputs=[i32, f32, i32],
                 attrs=fusion_attrs)
        def panoptic_fusion(labels, masks, boxes, scores, classes, num, valid_hw, **attrs):  # noqa: ANN001
            # thresholds as the decimals their float32 attributes stand for, as the plugin reads them
            fields = {k: field_decimal(attrs[k]) for k in ("instance_score_thresh", "overlap_thresh")}
            fields["mask_threshold"] = float(attrs["mask_threshold"])
            fields |= {k: int(attrs[k]) for k in ("stuff_area_limit", "num_stuff")}
            args = [np.asarray(a) for a in (labels, masks, boxes, scores, classes, num, valid_hw)]
            if host is not None:
                num_stuff = fields.pop("num_stuff")
                return host.panoptic_fusion(*args, **fields, max_segments=args[2].shape[1] + num_stuff, num_threads=1)
            return _panoptic_fusion_torch(*args, fields)

        _registered["impl"] = impl
        logger.info("plugin ops registered with ONNX Runtime (%s implementation)", impl)
        return impl


def active_implementation() -> str | None:
    """"host", "torch", or None when the plugin ops are not registered yet."""
    return _registered.get("impl")


def _value_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {}
    for vi in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        types[vi.name] = vi.type.tensor_type.elem_type
    for init in inferred.graph.initializer:
        types[init.name] = init.data_type
    return types


def prepare_for_ort(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose plugin nodes ONNX Runtime can run with :func:`register_plugin_ops`.

    Unknown plugin op_types raise a one-line error naming them (ONNX Runtime would fail on them anyway).
    """
    nodes = plugin_nodes(model)
    unknown = sorted({n.op_type for n in nodes if n.op_type not in PLUGIN_FIELDS})
    if unknown:
        raise TrtPanopticError(
            f"plugin ops should be ones trt_panoptic registers ({', '.join(PLUGIN_FIELDS)}), got {', '.join(unknown)} — "
            "run this model with TensorRT and its plugin library, or export it with trt-panoptic export"
        )
    if not nodes:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    types = _value_types(model)
    new_nodes = []
    for node in out.graph.node:
        if node.op_type not in PLUGIN_FIELDS:
            new_nodes.append(node)
            continue
        node.domain = ORT_CONTRIB_DOMAIN
        for i, name in enumerate(node.input):  # FP16 in → FP32 for the op
            if types.get(name) == onnx.TensorProto.FLOAT16:
                cast_name = f"{name}__ort_f32_{node.name}_{i}"
                new_nodes.append(onnx.helper.make_node("Cast", [name], [cast_name], to=onnx.TensorProto.FLOAT))
                node.input[i] = cast_name
        after = []
        for i, name in enumerate(node.output):  # FP32 out → the FP16 the graph expects
            if types.get(name) == onnx.TensorProto.FLOAT16:
                tmp = f"{name}__ort_f32"
                after.append(onnx.helper.make_node("Cast", [tmp], [name], to=onnx.TensorProto.FLOAT16))
                node.output[i] = tmp
        new_nodes.append(node)
        new_nodes.extend(after)
    del out.graph.node[:]
    out.graph.node.extend(new_nodes)
    del out.graph.value_info[:]
    if not any(o.domain == ORT_CONTRIB_DOMAIN for o in out.opset_import):
        out.opset_import.append(onnx.helper.make_opsetid(ORT_CONTRIB_DOMAIN, 1))
    return out


def ort_session(model: onnx.ModelProto, providers: list[str] | None = None, *, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` for ``model``, with the plugin ops registered when it has any.

    Args:
        providers: ONNX Runtime execution providers, default ["CPUExecutionProvider"].
        threads: intra-op threads (None = ONNX Runtime's default).
    """
    ort = import_optional("onnxruntime", "pip install onnxruntime (or onnxruntime-gpu for CUDA)")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        # A Q/DQ model is run as written (the arithmetic TensorRT's explicit quantization follows): ONNX
        # Runtime's extended-level QDQ fusions are its own kernels, and in 1.31-1.32 they give a MatMul whose
        # weight is quantized per column (DequantizeLinear axis=1) a wrong result (tests/quantization/test_qdq.py:
        # rel. error 0.24 fused vs 0.007 unfused on the same model).
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    prepared = prepare_for_ort(model)
    if prepared is not model:
        register_plugin_ops()
        from onnxruntime_extensions import get_library_path

        so.register_custom_ops_library(get_library_path())
    try:
        return ort.InferenceSession(prepared.SerializeToString(), so, providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, NotImplemented ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrtPanopticError(f"ONNX Runtime should load the model, got: {first[:300]} — re-export it with trt-panoptic export") from None
