"""Tiny ONNX graphs (built with onnx.helper, milliseconds) standing in for the exported model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx_compat import ONNX_IR_VERSION


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ONNX_IR_VERSION)
    onnx.save(model, str(path))
    return path


def make_onnx(path: Path, kind: str = "fp32", batch: int | str = 1) -> Path:
    """``image`` uint8 [B,64,64,3] → Cast → Mul(w) [→ fp16 / Q-DQ variants] → ``out``.

    kind: ``fp32`` | ``fp16`` (FP16-typed: Cast to FLOAT16 and an FP16 weight) | ``qdq`` (Quantize/
    DequantizeLinear pair) | ``plugin`` (a RoIAlignFPN node with plugin_namespace) | ``dynamic2`` (H, W dynamic).
    """
    dims = [batch, 64, 64, 3] if kind != "dynamic2" else [batch, "h", "w", 3]
    image = helper.make_tensor_value_info("image", TensorProto.UINT8, dims)
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT)]
    inits = [numpy_helper.from_array(np.array([0.5], np.float32), "w")]
    if kind == "fp16":
        nodes += [
            helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
            helper.make_node("Mul", ["x16", "w16"], ["y16"]),
            helper.make_node("Cast", ["y16"], ["out"], to=TensorProto.FLOAT),
        ]
        inits = [numpy_helper.from_array(np.array([0.5], np.float16), "w16")]
    elif kind == "qdq":
        inits += [
            numpy_helper.from_array(np.array(0.1, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.int8), "z"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]),
            helper.make_node("Mul", ["dq", "w"], ["out"]),
        ]
    elif kind == "plugin":
        nodes += [
            helper.make_node("Mul", ["x", "w"], ["y"]),
            helper.make_node("RoIAlignFPN", ["y"], ["out"], plugin_namespace="trt_panoptic", plugin_version="1"),
        ]
    else:
        nodes += [helper.make_node("Mul", ["x", "w"], ["out"])]
    return _save(helper.make_graph(nodes, "tiny", [image], [out], inits), path)


def fake_plugin_library(path, content: bytes = b""):
    """A file that passes ``check_plugin_library``: an ELF header and the exported entry point's name, as a real
    library's dynamic string table holds it (the fake tensorrt never loads it)."""
    path.write_bytes(b"\x7fELF" + b"\0" * 12 + b"getCreators\0" + content)
    return path
