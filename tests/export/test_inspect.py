"""``inspect_onnx`` on the exported graphs and on hand-made graphs with the constructs it must flag."""
from onnx import TensorProto, helper
from onnx_compat import ONNX_IR_VERSION

from trt_panoptic.export.inspect import format_report, inspect_onnx


def test_report_of_the_tensorrt_flavor(tensorrt_onnx):
    r = inspect_onnx(tensorrt_onnx)
    assert r.inputs == [{"name": "image", "type": "uint8", "shape": [1, 3, 128, 128]},
                        {"name": "valid_hw", "type": "int32", "shape": [1, 2]}]
    assert [o["name"] for o in r.outputs] == ["sem_labels", "boxes", "scores", "classes", "num_detections",
                                              "panoptic", "segments", "num_segments"]
    assert r.ops["RoIAlignFPN"] == 2 and r.ops["SemanticUpsampleArgmax"] == 1 and "RoiAlign" not in r.ops
    assert r.ops["PanopticFusion"] == 1
    assert r.metadata["trt_panoptic.flavor"] == "tensorrt"
    assert not [w for w in r.warnings if "not in TensorRT" in w or "plugin" in w]
    assert "RoIAlignFPN [RoIAlignFPN_0] domain=trt_panoptic: plugin_version=1" in format_report(r)


def test_flags_unsupported_ops_unknown_plugins_dynamic_dims_and_int64():
    nodes = [
        helper.make_node("Col2Im", ["x", "s", "b"], ["a"]),  # not in TensorRT's ONNX op list
        helper.make_node("AcmeOp", ["a"], ["c"], domain="acme", plugin_namespace="acme", plugin_version="1"),
        helper.make_node("Cast", ["c"], ["d"], to=TensorProto.INT64),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 12, 9]),
         helper.make_tensor_value_info("s", TensorProto.INT64, [2]), helper.make_tensor_value_info("b", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("d", TensorProto.INT64, None)],
        value_info=[helper.make_tensor_value_info("c", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("acme", 1)], ir_version=ONNX_IR_VERSION)
    text = "\n".join(inspect_onnx(model).warnings)
    assert "Col2Im ×1 is not in TensorRT's ONNX op list" in text
    assert "unknown plugin AcmeOp" in text
    assert "input x has non-constant dims ['batch', 12, 9]" in text
    assert "INT64 tensors computed on the hot path (Cast ×1)" in text
