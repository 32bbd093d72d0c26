"""A small ONNX net with every pattern the quantizer handles, built with onnx.helper (no export needed).

uint8 image [1, 3, 32, 32] → Cast → (x - 100) / 50
  → /stem/Conv (8×3×3×3) → Relu = r1
  → /res/conv2/Conv (8×8×3×3) → Add(conv2, r1) → Relu = r2          residual Add: r1 is the shortcut
  → /mask_head/deconv/ConvTranspose (W 8×4×2×2, stride 2) → Relu → /mask_head/predictor/Conv (2×4×1×1) = mask
  → GlobalAveragePool → Flatten → /box_head/fc1/Gemm (16×8, transB=1) → Relu
     → /box_head/cls_score/Gemm (3×16, transB=1) = cls ;  /decode/MatMul (16×5 weight) = vec
  box decoding stand-in: Add(Gemm output, Mul(Gemm output, 0.5)) — two activations, no Conv: not residual
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_compat import ONNX_IR_VERSION

H = W = 32


def tiny_model(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)

    def init(name, *shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [
        numpy_helper.from_array(np.array(100.0, np.float32), "mean"),
        numpy_helper.from_array(np.array(50.0, np.float32), "std"),
        init("stem.weight", 8, 3, 3, 3), init("stem.bias", 8),
        init("conv2.weight", 8, 8, 3, 3, scale=0.1),
        init("deconv.weight", 8, 4, 2, 2), init("deconv.bias", 4),
        init("mask_predictor.weight", 2, 4, 1, 1),
        init("fc1.weight", 16, 8), init("fc1.bias", 16),
        init("cls_score.weight", 3, 16), init("cls_score.bias", 3),
        init("decode.weight", 16, 5),
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
    ]
    # one channel of conv2 is all zero: its scale must stay positive
    conv2 = numpy_helper.to_array(inits[4]).copy()
    conv2[3] = 0
    inits[4] = numpy_helper.from_array(conv2, "conv2.weight")
    N = helper.make_node
    nodes = [
        N("Cast", ["image"], ["xf"], name="/Cast", to=TensorProto.FLOAT),
        N("Sub", ["xf", "mean"], ["xs"], name="/Sub"),
        N("Div", ["xs", "std"], ["x"], name="/Div"),
        N("Conv", ["x", "stem.weight", "stem.bias"], ["c1"], name="/stem/Conv", pads=[1, 1, 1, 1]),
        N("Relu", ["c1"], ["r1"], name="/stem/Relu"),
        N("Conv", ["r1", "conv2.weight"], ["c2"], name="/res/conv2/Conv", pads=[1, 1, 1, 1]),
        N("Add", ["c2", "r1"], ["a"], name="/res/Add"),
        N("Relu", ["a"], ["r2"], name="/res/Relu"),
        N("ConvTranspose", ["r2", "deconv.weight", "deconv.bias"], ["d"], name="/mask_head/deconv/ConvTranspose",
          strides=[2, 2]),
        N("Relu", ["d"], ["rd"], name="/mask_head/Relu"),
        N("Conv", ["rd", "mask_predictor.weight"], ["mask"], name="/mask_head/predictor/Conv"),
        N("GlobalAveragePool", ["r2"], ["g"], name="/box_head/GlobalAveragePool"),
        N("Flatten", ["g"], ["f"], name="/box_head/Flatten"),
        N("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h"], name="/box_head/fc1/Gemm", transB=1),
        N("Relu", ["h"], ["hr"], name="/box_head/Relu"),
        N("Gemm", ["hr", "cls_score.weight", "cls_score.bias"], ["cls"], name="/box_head/cls_score/Gemm", transB=1),
        N("MatMul", ["hr", "decode.weight"], ["m"], name="/decode/MatMul"),
        N("Mul", ["m", "half"], ["mh"], name="/decode/Mul"),
        N("Add", ["m", "mh"], ["vec"], name="/decode/Add"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, 3, H, W])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 2, 2 * H, 2 * W]),
         helper.make_tensor_value_info("cls", TensorProto.FLOAT, [1, 3]),
         helper.make_tensor_value_info("vec", TensorProto.FLOAT, [1, 5])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=ONNX_IR_VERSION)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def fp16_typed(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` as the FP16-typed export is: normalization in FP32, then a Cast to FP16, FP16 weights and
    outputs, opset 19 (FP16 Q/DQ)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for init in out.graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in ("mean", "std"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    div = next(n for n in out.graph.node if n.name == "/Div")
    div.output[0] = "x32"
    out.graph.node.insert(list(out.graph.node).index(div) + 1,
                          helper.make_node("Cast", ["x32"], ["x"], name="/Cast16", to=TensorProto.FLOAT16))
    for o in out.graph.output:
        o.type.tensor_type.elem_type = TensorProto.FLOAT16
    out.opset_import[0].version = 19
    onnx.checker.check_model(out)
    return out


def random_images(n: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (1, 3, H, W), dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def model() -> onnx.ModelProto:
    return tiny_model()
