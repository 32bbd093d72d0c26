"""The export twins' ONNX ops on ONNX Runtime agree with our PyTorch references (torchvision semantics)."""
import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402
from onnx_compat import ONNX_IR_VERSION  # noqa: E402

from trt_panoptic.export.onnx_ops import OnnxNonMaxSuppression, OnnxRoiAlign  # noqa: E402
from trt_panoptic.ops import nms, roi_align  # noqa: E402


def _run(node, inputs, outputs, feeds, opset=17):
    graph = helper.make_graph([node], "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ONNX_IR_VERSION)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_onnx_roi_align_on_ort_equals_torchvision_semantics(sampling_ratio):
    # RoIs chosen to hit the corner cases: partly outside the map (samples beyond -1 / H count as 0),
    # sub-pixel, larger than the map (adaptive grid > 1), and the far-away empty box the pooler feeds
    # the levels a RoI does not belong to.
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 12, 16, generator=g)
    rois = torch.tensor([
        [-10.0, -6.0, 20.0, 30.0], [3.3, 4.1, 4.0, 4.9], [0.0, 0.0, 64.0, 48.0], [50.0, 30.0, 90.0, 70.0],
        [-1e4, -1e4, -1e4, -1e4], [12.5, 7.25, 40.75, 44.0],
    ])
    batch = torch.tensor([0, 1, 0, 1, 0, 1])
    scale, p = 0.25, 7
    node = helper.make_node("RoiAlign", ["x", "rois", "b"], ["y"], coordinate_transformation_mode="half_pixel",
                            mode="avg", output_height=p, output_width=p, sampling_ratio=sampling_ratio, spatial_scale=scale)
    got = _run(node, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape)),
                      helper.make_tensor_value_info("rois", TensorProto.FLOAT, [6, 4]),
                      helper.make_tensor_value_info("b", TensorProto.INT64, [6])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
               {"x": x.numpy(), "rois": rois.numpy(), "b": batch.numpy()})
    ref = roi_align(x, torch.cat([batch[:, None].float(), rois], 1), p, scale, sampling_ratio, aligned=True)
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-5)
    assert np.abs(got[4]).max() == 0.0  # the pooler's per-level masking relies on this
    twin = OnnxRoiAlign.apply(x, rois, batch, p, scale, sampling_ratio)
    torch.testing.assert_close(twin, ref)


def test_onnx_nms_on_ort_equals_reference_per_class():
    g = torch.Generator().manual_seed(5)
    xy = torch.rand(60, 2, generator=g) * 50
    wh = torch.rand(60, 2, generator=g) * 30 + 1
    boxes = torch.cat([xy, xy + wh], 1)
    scores = torch.rand(1, 3, 60, generator=g)
    scores[0, 1, :20] = -1.0  # below the threshold: never a candidate
    max_out, iou, thr = 10, 0.5, 0.05
    node = helper.make_node("NonMaxSuppression", ["b", "s", "m", "i", "t"], ["y"], center_point_box=0)
    got = _run(node, [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 60, 4]),
                      helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 3, 60]),
                      helper.make_tensor_value_info("m", TensorProto.INT64, [1]),
                      helper.make_tensor_value_info("i", TensorProto.FLOAT, [1]),
                      helper.make_tensor_value_info("t", TensorProto.FLOAT, [1])],
               [helper.make_tensor_value_info("y", TensorProto.INT64, None)],
               {"b": boxes[None].numpy(), "s": scores.numpy(), "m": np.array([max_out]), "i": np.array([iou], np.float32),
                "t": np.array([thr], np.float32)})
    twin = OnnxNonMaxSuppression.apply(boxes[None], scores, max_out, iou, thr)
    np.testing.assert_array_equal(got, twin.numpy())
    for c in range(3):  # independent check of one class against the plain reference NMS
        cand = torch.nonzero(scores[0, c] > thr).squeeze(1)
        expect = cand[nms(boxes[cand], scores[0, c, cand], iou)][:max_out]
        np.testing.assert_array_equal(got[got[:, 1] == c, 2], expect.numpy())
