"""The ONNX contract: what an exported model says about itself, and how its plugin nodes are named.

One owner for everything a later stage (runtime, quantization, engine builder, ``inspect``) reads from an
ONNX this project wrote:

- **metadata**: ``trt_panoptic.<key>`` entries of ``metadata_props`` (:data:`META_KEYS`), written and read
  only through :func:`write_metadata` / :func:`read_metadata`;
- **what a graph is**: :class:`OnnxInfo` / :func:`onnx_info` — config, input size, flavour, precision
  (from the metadata) and inputs, Q/DQ and FP16 counts, plugin ops (from the graph);
- **plugin identity**: the ONNX domain, TensorRT plugin namespace and version, and each plugin's fields
  (ONNX attributes = ``plugins/<name>/fields.h``);
- **FP32 islands**: :func:`fp32_nodes`, the nodes of an FP32 export that a reduced-precision build must keep in
  FP32 — the ones the FP16-typed export types FP32.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from trt_panoptic.config import Config, config_from_dict
from trt_panoptic.errors import TrtPanopticError

META_PREFIX = "trt_panoptic."
#: The metadata keys: the model config (JSON of :class:`~trt_panoptic.config.Config`), the fixed input
#: height and width, the flavour ("portable" | "tensorrt"), the precision ("fp32" | "fp16" | "int8"), for
#: a Q/DQ model how it was calibrated (JSON), and the batch ("N": a fixed batch of N images; "1-N": a dynamic
#: batch of up to N; absent in exports from before batching, which take one).
META_KEYS = ("config", "height", "width", "flavor", "precision", "calibration", "batch")

#: ONNX domain of plugin nodes (keeps the ONNX checker happy; TensorRT's parser looks plugins up by op_type).
PLUGIN_DOMAIN = "trt_panoptic"
#: Namespace and version the plugins register under in TensorRT (node attributes ``plugin_namespace`` /
#: ``plugin_version``).
PLUGIN_NAMESPACE = "trt_panoptic"
PLUGIN_VERSION = "1"
#: plugin name → its fields (ONNX attribute names, ``plugins/*/fields.h``) besides plugin_version/namespace.
PLUGIN_FIELDS = {
    "RoIAlignFPN": ("output_size", "sampling_ratio", "aligned", "canonical_box_size", "canonical_level"),
    "SemanticUpsampleArgmax": ("scale_factor", "with_score"),
    # emitted by the export twin itself (graph_model._PanopticFusion), not by a rewrite
    "PanopticFusion": ("stuff_area_limit", "num_stuff", "instance_score_thresh", "overlap_thresh", "mask_threshold"),
}


#: Normalization ops the FP16 export keeps in FP32 (GroupNorm exports as InstanceNormalization between reshapes,
#: all in the norm's scope); FrozenBN / BN are per-channel affines that run in FP16.
_NORM_OPS = ("InstanceNormalization", "GroupNormalization", "LayerNormalization")
#: Data movement that follows its input's type (FP16 feature maps in the FP16-typed export): never pinned.
_FOLLOWS_INPUT = ("Gather",)


def fp32_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes of an FP32 export that compute in FP32 in the FP16-typed export.

    The export twin (``export/graph_model.py``) names its own arithmetic at the graph's top level (one path
    segment: ``/Sub_3``, ``/TopK``, ``/NonMaxSuppression``) — pixel normalization, anchors, box decoding and
    clipping, NMS scores, top-k, softmax, the mask sigmoid, the panoptic tail — and its submodules under their
    scope (``/backbone/…``); a GroupNorm is a scope holding an InstanceNormalization. Those are what the FP16-typed
    export keeps in FP32 (``Float32Norm``, ``_compute``), so a TensorRT 10.x FP16/INT8 build of the FP32
    export pins exactly these to FP32 (precision constraints) and gets the per-layer types the strongly typed
    build of the FP16-typed export gets. Plugin nodes choose their own formats; gathers follow their input.
    """
    def scope_of(node: onnx.NodeProto) -> tuple[str, ...]:
        return tuple(node.name.strip("/").split("/")[:-1])

    # A norm scope is an island only when it holds a normalization op: GroupNorm (InstanceNormalization between
    # reshapes) is kept FP32 by the FP16 export; FrozenBN (a Mul and an Add) and BN run in FP16 there
    norm_scopes = {scope_of(n) for n in model.graph.node if n.op_type in _NORM_OPS}
    names = []
    for node in model.graph.node:
        if node.domain == PLUGIN_DOMAIN or node.op_type in _FOLLOWS_INPUT or not node.name:
            continue
        scope = scope_of(node)
        if not scope or scope in norm_scopes:
            names.append(node.name)
    return names


def write_metadata(model: onnx.ModelProto, **values: str) -> onnx.ModelProto:
    """Set ``trt_panoptic.<key>`` entries of ``model`` (in place, returned); a key is written once."""
    unknown = sorted(set(values) - set(META_KEYS))
    assert not unknown, f"export.contract: unknown metadata keys {unknown}"
    keys = {META_PREFIX + k for k in values}
    kept = [p for p in model.metadata_props if p.key not in keys]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for k, v in values.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=META_PREFIX + k, value=str(v)))
    return model


def read_metadata(model: onnx.ModelProto) -> dict[str, str]:
    """The ``trt_panoptic.<key>`` entries of ``model``, keyed without the prefix."""
    return {p.key[len(META_PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(META_PREFIX)}


@dataclass(frozen=True)
class OnnxInfo:
    """What an ONNX says about itself.

    Attributes:
        source: where it came from (a path, or "model" for one in memory).
        config: the model config (None when the ONNX carries no trt_panoptic metadata).
        height, width: the fixed input size from the metadata (None without it).
        flavor: "portable" | "tensorrt"; precision: "fp32" | "fp16" | "int8".
        inputs: graph input name → shape, a dynamic dimension as -1.
        input_dtypes: graph input name → ONNX element type name (``UINT8``, ``FLOAT`` …).
        num_qdq: QuantizeLinear + DequantizeLinear nodes.
        num_fp16: FLOAT16 initializers, Cast-to-FLOAT16 nodes and FLOAT16 value infos.
        plugin_ops: op types of nodes that carry ``plugin_namespace`` (our TensorRT plugins).
        batch: images one run takes at most (the metadata's, else the ``image`` input's first dimension; 1
            when neither says).
        dynamic_batch: the batch dimension is dynamic (1..``batch``); else every run takes exactly ``batch``.
    """

    source: str
    config: Config | None = None
    height: int | None = None
    width: int | None = None
    flavor: str = "portable"
    precision: str = "fp32"
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_dtypes: dict[str, str] = field(default_factory=dict)
    num_qdq: int = 0
    num_fp16: int = 0
    plugin_ops: list[str] = field(default_factory=list)
    batch: int = 1
    dynamic_batch: bool = False

    @property
    def path(self) -> Path:
        return Path(self.source)

    @property
    def dynamic_inputs(self) -> list[str]:
        return [name for name, shape in self.inputs.items() if any(d < 0 for d in shape)]


def onnx_info(model: onnx.ModelProto | str | os.PathLike, source: str | None = None, *,
              require_metadata: bool = True) -> OnnxInfo:
    """Read :class:`OnnxInfo` from a loaded model or a file (graph only: external weights are not loaded).

    Args:
        require_metadata: raise a one-line error when the ONNX was not exported by trt_panoptic (the runtime
            needs the config); the engine builder accepts any ONNX.
    """
    if not isinstance(model, onnx.ModelProto):
        source = source or str(model)
        model = _load_graph(Path(model))
    source = source or "model"
    meta = read_metadata(model)
    if "config" not in meta and require_metadata:
        raise TrtPanopticError(f"{source} should carry trt_panoptic metadata, got none — export it with trt-panoptic export")
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    fp16 = onnx.TensorProto.FLOAT16
    inputs: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for value in graph.input:
        if value.name in initializers:  # old exporters list weights as inputs
            continue
        ttype = value.type.tensor_type
        inputs[value.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
                                   for d in ttype.shape.dim)
        dtypes[value.name] = onnx.TensorProto.DataType.Name(ttype.elem_type)
    num_fp16 = sum(t.data_type == fp16 for t in graph.initializer)
    num_fp16 += sum(v.type.tensor_type.elem_type == fp16 for v in graph.value_info)
    num_fp16 += sum(n.op_type == "Cast" and any(a.name == "to" and a.i == fp16 for a in n.attribute) for n in graph.node)
    return OnnxInfo(
        source=source,
        config=config_from_dict(json.loads(meta["config"]), source=source) if "config" in meta else None,
        height=int(meta["height"]) if "height" in meta else None,
        width=int(meta["width"]) if "width" in meta else None,
        flavor=meta.get("flavor", "portable"),
        precision=meta.get("precision", "fp32"),
        inputs=inputs,
        input_dtypes=dtypes,
        num_qdq=sum(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.node),
        num_fp16=num_fp16,
        plugin_ops=sorted({n.op_type for n in graph.node if any(a.name == "plugin_namespace" for a in n.attribute)}),
        **_batch(meta, inputs, source),
    )


def _batch(meta: dict[str, str], inputs: dict[str, tuple[int, ...]], source: str) -> dict:
    """The graph's batch and whether it is dynamic: the metadata's ("N" or "1-N"), else from the image input's
    first dimension (fixed when known; 1 when neither says)."""
    if "batch" in meta:
        value = meta["batch"]
        low, _, high = value.partition("-")
        dynamic = bool(high)
        if not (high or low).isdigit() or int(high or low) < 1 or (dynamic and low != "1"):
            raise TrtPanopticError(f"{source} should record its batch as N or 1-N (trt_panoptic.batch), got {value!r} — re-export it")
        return {"batch": int(high or low), "dynamic_batch": dynamic}
    first = inputs.get("image", (1,))[:1]
    return {"batch": first[0] if first and first[0] > 0 else 1, "dynamic_batch": False}


def _load_graph(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise TrtPanopticError(f"ONNX file should exist, got {str(path)!r} — export one with trt-panoptic export")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for corrupt files
        raise TrtPanopticError(
            f"ONNX file should be a valid model, got {str(path)!r} ({type(exc).__name__}) — re-export it") from None
    if not model.graph.node:
        raise TrtPanopticError(f"ONNX file should hold a graph, got an empty one in {str(path)!r} — re-export it")
    return model
