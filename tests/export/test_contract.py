"""The ONNX contract has one owner: metadata keys, what a graph says about itself, plugin identity."""
import re
from pathlib import Path

import onnx
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.contract import META_PREFIX, PLUGIN_DOMAIN, fp32_nodes, onnx_info, read_metadata, write_metadata

PACKAGE = Path(__file__).resolve().parents[2] / "trt_panoptic"


@pytest.mark.parametrize("flavor", ["portable", "tensorrt"])
def test_an_export_says_what_it_is(flavor, portable_onnx, tensorrt_onnx):
    model = {"portable": portable_onnx, "tensorrt": tensorrt_onnx}[flavor]
    info = onnx_info(model)
    assert (info.flavor, info.precision, info.height, info.width) == (flavor, "fp32", 128, 128)
    assert info.config.model.thing_classes == ["disc", "box", "triangle"]
    assert info.inputs == {"image": (1, 3, 128, 128), "valid_hw": (1, 2)}
    assert info.plugin_ops == ([] if flavor == "portable" else ["PanopticFusion", "RoIAlignFPN", "SemanticUpsampleArgmax"])
    # each key is written once (the flavour is not written as "portable" and then rewritten)
    keys = [p.key for p in model.metadata_props]
    assert len(keys) == len(set(keys)) and all(k.startswith(META_PREFIX) for k in keys)


def test_metadata_round_trips_and_replaces(tmp_path):
    model = onnx.ModelProto()
    write_metadata(model, flavor="portable", precision="fp32")
    write_metadata(model, precision="int8")
    assert read_metadata(model) == {"flavor": "portable", "precision": "int8"}
    with pytest.raises(TrtPanopticError, match="should carry trt_panoptic metadata"):
        onnx_info(model, source="foreign.onnx")
    assert onnx_info(model, require_metadata=False).config is None


def test_each_part_of_the_contract_is_defined_once():
    # the prefix, the plugin identity and the plugin field table: one definition in the package
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    for name in ("META_PREFIX", "PLUGIN_NAMESPACE", "PLUGIN_VERSION", "PLUGIN_DOMAIN", "PLUGIN_FIELDS"):
        where = [p.relative_to(PACKAGE).as_posix() for p, text in sources.items()
                 if re.search(rf"^{name}\s*=", text, re.MULTILINE)]
        assert where == ["export/contract.py"], (name, where)
    assert not [p for p, text in sources.items() if '"trt_panoptic.' in text and "metadata" in text
                and p.name != "contract.py" and re.search(r'"trt_panoptic\.(config|flavor|precision|height|width)"', text)]
    assert [p.relative_to(PACKAGE).as_posix() for p, text in sources.items()
            if re.search(r"^class OnnxInfo\b", text, re.MULTILINE)] == ["export/contract.py"]


def _frozen_bn_model():
    """The tiny model with a FrozenBN backbone (detectron2's and the R50 config's norm), random statistics."""
    import dataclasses

    import torch

    from trt_panoptic.config import load_config
    from trt_panoptic.modeling import build_model
    from trt_panoptic.modeling.layers import FrozenBatchNorm2d

    cfg = load_config("r18_fpn_tiny")
    resnet = dataclasses.replace(cfg.model.backbone.resnet, norm="FrozenBN")
    cfg.model.backbone = dataclasses.replace(cfg.model.backbone, resnet=resnet)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for bn in (m for m in model.modules() if isinstance(m, FrozenBatchNorm2d)):
        bn.running_var.uniform_(0.5, 1.5)
    return model, cfg


@pytest.mark.parametrize("backbone_norm", ["BN", "FrozenBN"])
def test_the_fp32_islands_of_an_fp32_export_are_what_the_fp16_typed_export_types_fp32(backbone_norm):
    # a TensorRT 10.x FP16 build of the FP32 export pins fp32_nodes to FP32; the strongly typed build of the
    # FP16-typed export takes its types from the graph: the two must agree node for node (FrozenBN's Mul/Add in
    # a norm scope run in FP16 there, GroupNorm's InstanceNormalization scope in FP32)
    from export.tiny_model import cached_export
    from trt_panoptic.export import export_onnx

    if backbone_norm == "BN":
        fp32, fp16 = cached_export("tensorrt"), cached_export("tensorrt", fp16=True)
    else:
        model, cfg = _frozen_bn_model()
        fp32, fp16 = (export_onnx(model, cfg, height=64, width=64, flavor="tensorrt", fp16=half) for half in (False, True))
    inferred = onnx.shape_inference.infer_shapes(fp16).graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.value_info) + list(inferred.output)}
    pinned, names = set(fp32_nodes(fp32)), {n.name for n in fp32.graph.node}
    compared = {True: 0, False: 0}
    for node in fp16.graph.node:
        floats = {types.get(o) for o in node.output} & {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}
        if node.name not in names or node.domain == PLUGIN_DOMAIN or node.op_type == "Gather" or not floats:
            continue  # casts of the FP16 export, plugins (own formats), gathers (follow their input), int tensors
        is_fp32 = onnx.TensorProto.FLOAT in floats
        assert (node.name in pinned) == is_fp32, (node.name, node.op_type, is_fp32)
        compared[is_fp32] += 1
    assert compared[True] > 100 and compared[False] > 50, compared
