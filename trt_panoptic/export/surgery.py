"""Graph surgery (onnx-graphsurgeon): the portable graph → the TensorRT flavour with our plugin nodes.

Two rewrites, each found by the structure the export twin (:mod:`trt_panoptic.export.graph_model`) emits:

- **RoIAlignFPN**: a ``Sum`` of four ``RoiAlign`` nodes (one per level P2..P5, each fed ``Where(level == k,
  rois, far-away empty box)``) becomes one ``RoIAlignFPN(rois, P2, P3, P4, P5)`` node (rois [R, 4] in a
  batch-1 graph; [R, 5] with RoiAlign's batch index in front when the graph has a batch); the level computation, the masks and
  the four RoiAligns fall away in the cleanup. In the FP16 graph the features reach RoiAlign through a
  ``Cast`` to FP32 and the Sum leaves through a ``Cast`` to FP16: the plugin takes the FP16 maps directly.
- **SemanticUpsampleArgmax**: ``Resize(×s, linear) → ArgMax(axis 1) → Cast(int32)`` becomes one node on
  the 1/4-scale logits that writes the int32 label map.

Plugin nodes follow the contract of docs/ARCHITECTURE.md ("Plugins"): op_type = plugin name, attributes ``plugin_version`` "1",
``plugin_namespace`` "trt_panoptic" and the plugin's fields (``plugins/<name>/fields.h``), domain
``trt_panoptic`` (TensorRT's parser looks plugins up by op_type; the domain keeps the ONNX checker happy).
"""
from __future__ import annotations

import logging

import numpy as np
import onnx

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.contract import PLUGIN_DOMAIN, PLUGIN_FIELDS, PLUGIN_NAMESPACE, PLUGIN_VERSION

logger = logging.getLogger(__name__)



def _gs():
    from trt_panoptic.errors import import_optional

    return import_optional("onnx_graphsurgeon", "pip install onnx-graphsurgeon")


def _producer(tensor):
    return tensor.inputs[0] if tensor.inputs else None


def _uncast(tensor):
    """The tensor before a ``Cast`` to FP32 of an FP16 tensor (FP16 graph), else ``tensor`` itself."""
    node = _producer(tensor)
    if node is not None and node.op == "Cast" and node.inputs[0].dtype == np.float16:
        return node.inputs[0]
    return tensor


def _plugin_attrs(name: str, **fields: int) -> dict:
    assert set(fields) == set(PLUGIN_FIELDS[name]), f"surgery: {name} needs fields {PLUGIN_FIELDS[name]}"
    return {"plugin_version": PLUGIN_VERSION, "plugin_namespace": PLUGIN_NAMESPACE, **fields}


def _rois_with_batch_index(graph, rois, batch_indices, name: str):
    """The plugin's RoIs: [R, 4] as they are when every RoI is from image 0 (a batch-1 graph), else [R, 5]
    (batch index, x1, y1, x2, y2) from RoiAlign's batch_indices, so each RoI samples its own image's maps."""
    gs = _gs()
    if isinstance(batch_indices, gs.Constant) and not np.any(batch_indices.values):
        return rois
    column = gs.Variable(f"{name}/batch_column", dtype=np.float32)
    out = gs.Variable(f"{name}/rois", dtype=np.float32)
    axes = gs.Constant(f"{name}/axes", np.asarray([1], np.int64))
    as_float = gs.Variable(f"{name}/batch_float", dtype=np.float32)
    graph.nodes.append(gs.Node("Cast", f"{name}/Cast", {"to": onnx.TensorProto.FLOAT}, [batch_indices], [as_float]))
    graph.nodes.append(gs.Node("Unsqueeze", f"{name}/Unsqueeze", inputs=[as_float, axes], outputs=[column]))
    graph.nodes.append(gs.Node("Concat", f"{name}/Concat", {"axis": 1}, [column, rois], [out]))
    return out


def replace_roi_align_fpn(graph, *, canonical_box_size: int, canonical_level: int) -> int:
    """Replace every 4-level RoiAlign pooler in a graphsurgeon graph by a ``RoIAlignFPN`` node; returns the count."""
    gs = _gs()
    count = 0
    for node in list(graph.nodes):
        if node.op != "Sum" or len(node.inputs) != 4:
            continue
        aligns = [_producer(t) for t in node.inputs]
        if not all(a is not None and a.op == "RoiAlign" for a in aligns):
            continue
        aligns.sort(key=lambda a: -float(a.attrs["spatial_scale"]))  # P2 (1/4) first
        scales = [float(a.attrs["spatial_scale"]) for a in aligns]
        if not np.allclose(scales, [1 / 4, 1 / 8, 1 / 16, 1 / 32]):
            raise TrtPanopticError(f"RoiAlign pooler should sample P2..P5 (scales 1/4..1/32), got {scales} — export with trt-panoptic export")
        rois = []
        for a in aligns:
            where = _producer(a.inputs[1])
            if where is None or where.op != "Where":
                raise TrtPanopticError("RoiAlign pooler should take Where(level == k, rois, empty box), got another graph — export with trt-panoptic export")
            rois.append(where.inputs[1])
        assert all(r is rois[0] for r in rois), "surgery: the four RoiAligns of one pooler must share their RoIs"
        plugin_rois = _rois_with_batch_index(graph, rois[0], aligns[0].inputs[2], f"RoIAlignFPN_{count}")
        attrs = aligns[0].attrs
        out = node.outputs[0]
        cast = out.outputs[0] if len(out.outputs) == 1 and out.outputs[0].op == "Cast" else None
        features = [_uncast(a.inputs[0]) for a in aligns]
        if cast is not None and features[0].dtype == np.float16 and cast.attrs.get("to") == onnx.TensorProto.FLOAT16:
            out = cast.outputs[0]
            cast.outputs.clear()
        size = int(attrs["output_height"])
        plugin = gs.Node(
            op="RoIAlignFPN", name=f"RoIAlignFPN_{count}", domain=PLUGIN_DOMAIN, inputs=[plugin_rois, *features], outputs=[out],
            attrs=_plugin_attrs("RoIAlignFPN", output_size=size, sampling_ratio=int(attrs.get("sampling_ratio", 0)),
                                aligned=1, canonical_box_size=int(canonical_box_size), canonical_level=int(canonical_level)),
        )
        node.outputs.clear()
        graph.nodes.append(plugin)
        count += 1
    return count


def replace_semantic_upsample_argmax(graph) -> int:
    """Replace ``Resize → ArgMax → Cast(int32)`` by ``SemanticUpsampleArgmax``; returns the count."""
    gs = _gs()
    count = 0
    for node in list(graph.nodes):
        if node.op != "ArgMax" or int(node.attrs.get("axis", 0)) != 1 or int(node.attrs.get("keepdims", 1)) != 0:
            continue
        resize = _producer(node.inputs[0])
        out = node.outputs[0]
        cast = out.outputs[0] if len(out.outputs) == 1 else None
        if resize is None or resize.op != "Resize" or cast is None or cast.op != "Cast" or cast.attrs.get("to") != onnx.TensorProto.INT32:
            continue
        mode = resize.attrs.get("mode", "nearest")
        ctm = resize.attrs.get("coordinate_transformation_mode", "half_pixel")
        scales = resize.inputs[2] if len(resize.inputs) > 2 else None
        if mode != "linear" or ctm not in ("half_pixel", "pytorch_half_pixel") or not isinstance(scales, gs.Constant):
            continue
        s = np.asarray(scales.values, dtype=np.float64)
        if s.shape != (4,) or s[0] != 1 or s[1] != 1 or s[2] != s[3] or s[2] != int(s[2]):
            continue
        plugin = gs.Node(
            op="SemanticUpsampleArgmax", name=f"SemanticUpsampleArgmax_{count}", domain=PLUGIN_DOMAIN,
            inputs=[resize.inputs[0]], outputs=[cast.outputs[0]],
            attrs=_plugin_attrs("SemanticUpsampleArgmax", scale_factor=int(s[2]), with_score=0),
        )
        cast.outputs.clear()
        graph.nodes.append(plugin)
        count += 1
    return count


def to_tensorrt_flavor(model: onnx.ModelProto, *, canonical_box_size: int = 224, canonical_level: int = 4) -> onnx.ModelProto:
    """The portable ``model`` with the RoIAlign poolers and the semantic upsample+argmax as plugin nodes.

    Raises a one-line error when the graph holds neither pattern (not exported by trt_panoptic).
    """
    gs = _gs()
    graph = gs.import_onnx(onnx.shape_inference.infer_shapes(model))  # dtypes tell the FP16 Casts apart
    n_roi = replace_roi_align_fpn(graph, canonical_box_size=canonical_box_size, canonical_level=canonical_level)
    n_sem = replace_semantic_upsample_argmax(graph)
    if n_roi == 0 or n_sem == 0:
        raise TrtPanopticError(
            f"the portable ONNX should hold RoiAlign poolers and a Resize→ArgMax head, found {n_roi} and {n_sem} — "
            "export it with trt-panoptic export --flavor portable first"
        )
    logger.info("surgery: %d RoIAlignFPN node(s), %d SemanticUpsampleArgmax node(s)", n_roi, n_sem)
    graph.cleanup().toposort()
    out = gs.export_onnx(graph)
    out.ir_version = model.ir_version
    del out.opset_import[:]
    out.opset_import.extend(model.opset_import)
    if not any(o.domain == PLUGIN_DOMAIN for o in out.opset_import):
        out.opset_import.append(onnx.helper.make_opsetid(PLUGIN_DOMAIN, 1))
    out.metadata_props.extend(model.metadata_props)
    return out


def plugin_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The nodes of ``model`` that carry a ``plugin_namespace`` attribute or a known plugin op_type."""
    out = []
    for node in model.graph.node:
        if node.op_type in PLUGIN_FIELDS or any(a.name == "plugin_namespace" for a in node.attribute):
            out.append(node)
    return out
