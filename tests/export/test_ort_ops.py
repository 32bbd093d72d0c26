"""The plugin ops as ONNX Runtime sees them: both implementations agree, and the ORT-only graph rewrite."""
import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from onnx_compat import ONNX_IR_VERSION

from trt_panoptic.export.ort_ops import (
    ORT_CONTRIB_DOMAIN,
    _roi_align_fpn_torch,
    _semantic_upsample_argmax_torch,
    ort_session,
    prepare_for_ort,
)
from trt_panoptic.export.surgery import PLUGIN_DOMAIN


def test_torch_reference_and_host_library_agree():
    host = pytest.importorskip("trt_panoptic.plugins.host")
    try:
        host.load_library()
    except Exception as exc:  # no C++ compiler on this machine
        pytest.skip(f"host library unavailable: {exc}")
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(1, 3, 64 // s, 96 // s, generator=g).numpy() for s in (1, 2, 4, 8)]
    xy = torch.rand(40, 2, generator=g) * 200 - 20
    wh = torch.rand(40, 2, generator=g) ** 2 * 250
    rois = torch.cat([xy, xy + wh], 1).numpy()
    ref = _roi_align_fpn_torch(rois, *feats, output_size=7, sampling_ratio=0, aligned=1, canonical_box_size=224, canonical_level=4)
    got = host.roi_align_fpn(rois, feats, 7)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    logits = torch.randn(2, 5, 8, 12, generator=g).numpy()
    np.testing.assert_array_equal(host.semantic_upsample_argmax(logits, 4), _semantic_upsample_argmax_torch(logits, 4))


def _plugin_model(dtype):
    node = helper.make_node("SemanticUpsampleArgmax", ["x"], ["y"], domain=PLUGIN_DOMAIN, plugin_version="1",
                            plugin_namespace="trt_panoptic", scale_factor=4, with_score=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", dtype, [1, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 16, 20])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(PLUGIN_DOMAIN, 1)], ir_version=ONNX_IR_VERSION)


def test_prepare_for_ort_moves_plugins_to_the_contrib_domain_and_casts_fp16():
    model = _plugin_model(TensorProto.FLOAT16)
    prepared = prepare_for_ort(model)
    assert model.graph.node[0].domain == PLUGIN_DOMAIN  # the original is untouched
    ops = [(n.op_type, n.domain) for n in prepared.graph.node]
    assert ops == [("Cast", ""), ("SemanticUpsampleArgmax", ORT_CONTRIB_DOMAIN)]
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 5)).astype(np.float16)
    (y,) = ort_session(model).run(None, {"x": x})
    np.testing.assert_array_equal(y, _semantic_upsample_argmax_torch(x.astype(np.float32), 4))
