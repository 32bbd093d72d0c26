"""Exported graphs vs the PyTorch model, the TensorRT flavour vs the portable one, and the graphs' contracts.

The model is an untrained but score-spread r18_fpn_tiny at 128×128 (see tiny_model.py); the acceptance
numbers on the bundled trained model come from benchmarks/export_parity.py.
"""
import numpy as np
import onnx
import pytest
import torch

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export import export_onnx, onnx_info
from trt_panoptic.export.graph_model import OUTPUT_NAMES
from trt_panoptic.export.ort_ops import ort_session
from trt_panoptic.export.surgery import PLUGIN_DOMAIN, PLUGIN_FIELDS, plugin_nodes

from .tiny_model import SIZE, box_iou_np, scene


def _ort_raw(proto, image_hwc, valid_hw=(SIZE, SIZE)):
    session = ort_session(proto)
    feed = {"image": np.ascontiguousarray(image_hwc.transpose(2, 0, 1))[None]}
    if any(i.name == "valid_hw" for i in session.get_inputs()):
        feed["valid_hw"] = np.asarray([valid_hw], np.int32)
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feed)))


def _torch_reference(model, image_hwc):
    with torch.no_grad():
        return model([torch.from_numpy(np.ascontiguousarray(image_hwc.transpose(2, 0, 1)))])[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_portable_onnx_on_ort_matches_pytorch(tiny, detections_onnx, seed):
    model, _ = tiny
    image = scene(seed)
    raw = _ort_raw(detections_onnx, image)
    ref = _torch_reference(model, image)
    same = (raw["sem_labels"][0] == ref["sem_labels"].numpy()).mean()
    assert same >= 0.999
    inst = ref["instances"]
    n = int(raw["num_detections"][0])
    assert n == inst["boxes"].shape[0] > 5  # the reference drops empty boxes; none here
    np.testing.assert_allclose(raw["boxes"][0, :n], inst["boxes"].numpy(), atol=0.5)
    np.testing.assert_allclose(raw["scores"][0, :n], inst["scores"].numpy(), atol=1e-4)
    np.testing.assert_array_equal(raw["classes"][0, :n], inst["classes"].numpy())
    np.testing.assert_allclose(raw["mask_probs"][0, :n], inst["mask_probs"].numpy(), atol=2e-3)
    assert np.all(raw["scores"][0, n:] == 0) and np.all(raw["boxes"][0, n:] == 0)  # padding rows are zero


def test_portable_graph_is_standard_ops_with_the_documented_io(portable_onnx, detections_onnx):
    onnx.checker.check_model(portable_onnx, full_check=True)
    assert all(n.domain in ("", "ai.onnx") for n in portable_onnx.graph.node)
    assert [o.domain for o in portable_onnx.opset_import] == [""]  # no custom domain left behind
    assert {o.domain: o.version for o in portable_onnx.opset_import}[""] >= 17
    ops = {n.op_type for n in portable_onnx.graph.node}
    assert {"RoiAlign", "NonMaxSuppression", "TopK", "Resize", "ArgMax", "Loop", "ScatterElements"} <= ops
    for n in portable_onnx.graph.node:
        if n.op_type == "RoiAlign":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert attrs["coordinate_transformation_mode"] == b"half_pixel" and attrs["sampling_ratio"] == 0
    def io(values):
        return {v.name: ([d.dim_value for d in v.type.tensor_type.shape.dim], v.type.tensor_type.elem_type)
                for v in values}

    u8, i32, f32 = onnx.TensorProto.UINT8, onnx.TensorProto.INT32, onnx.TensorProto.FLOAT
    detections = {"sem_labels": ([1, SIZE, SIZE], i32), "boxes": ([1, 50, 4], f32), "scores": ([1, 50], f32),
                  "classes": ([1, 50], i32), "num_detections": ([1], i32)}
    assert io(portable_onnx.graph.input) == {"image": ([1, 3, SIZE, SIZE], u8), "valid_hw": ([1, 2], i32)}
    assert io(portable_onnx.graph.output) == detections | {
        "panoptic": ([1, SIZE, SIZE], i32), "segments": ([1, 50 + 4, 10], f32), "num_segments": ([1], i32)}
    # --host-tail: the graph stops at the detections and hands out the mask probabilities; it takes valid_hw
    # too (it zeroes the padding and clips boxes to the frame)
    assert io(detections_onnx.graph.input) == {"image": ([1, 3, SIZE, SIZE], u8), "valid_hw": ([1, 2], i32)}
    assert io(detections_onnx.graph.output) == detections | {"mask_probs": ([1, 50, 28, 28], f32)}
    info = onnx_info(portable_onnx)
    assert (info.height, info.width, info.flavor, info.precision) == (SIZE, SIZE, "portable", "fp32")
    assert info.config.model.thing_classes == ["disc", "box", "triangle"]


def test_tensorrt_flavor_has_plugin_nodes_the_plugins_parse(tensorrt_onnx):
    from trt_panoptic.plugins import host

    nodes = plugin_nodes(tensorrt_onnx)
    assert sorted(n.op_type for n in nodes) == ["PanopticFusion", "RoIAlignFPN", "RoIAlignFPN", "SemanticUpsampleArgmax"]
    ops = {n.op_type for n in tensorrt_onnx.graph.node}
    assert "RoiAlign" not in ops and "ArgMax" not in ops  # the replaced subgraphs are gone
    sizes = []
    for n in nodes:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        assert n.domain == PLUGIN_DOMAIN
        assert attrs["plugin_version"] == b"1" and attrs["plugin_namespace"] == b"trt_panoptic"
        fields = {k: ("FLOAT32", attrs[k]) if isinstance(attrs[k], float) else ("INT32", int(attrs[k]))
                  for k in PLUGIN_FIELDS[n.op_type]}
        # the plugins' own field parser (plugins/*/fields.h) accepts every field and ignores none
        parse = {"RoIAlignFPN": host.parse_roi_align_fpn_fields, "PanopticFusion": host.parse_panoptic_fusion_fields,
                 "SemanticUpsampleArgmax": host.parse_semantic_upsample_argmax_fields}[n.op_type]
        parsed, ignored = parse(fields)
        assert ignored == []
        if n.op_type == "PanopticFusion":
            assert len(n.input) == 7 and parsed.num_stuff == 4 and parsed.stuff_area_limit == 0  # applied on the host
        elif n.op_type == "RoIAlignFPN":
            sizes.append(attrs["output_size"])
            assert len(n.input) == 5
        else:
            assert attrs["scale_factor"] == 4
    assert sorted(sizes) == [7, 14]
    onnx.checker.check_model(tensorrt_onnx)


@pytest.mark.parametrize("seed", [1, 4])
def test_tensorrt_flavor_on_ort_equals_portable(portable_onnx, tensorrt_onnx, seed):
    image = scene(seed)
    a, b = _ort_raw(portable_onnx, image), _ort_raw(tensorrt_onnx, image)
    assert "mask_probs" not in a and "mask_probs" not in b  # both end in the panoptic map (mask_probs: --raw-outputs)
    for name in OUTPUT_NAMES:
        if name != "mask_probs":
            np.testing.assert_allclose(a[name], b[name], atol=1e-4, err_msg=name)
    np.testing.assert_array_equal(a["panoptic"], b["panoptic"])
    np.testing.assert_array_equal(a["segments"], b["segments"])


@pytest.mark.parametrize("seed, valid", [(1, (SIZE, SIZE)), (4, (SIZE, SIZE)), (2, (96, SIZE)), (3, (SIZE, 72))])
@pytest.mark.parametrize("flavor", ["portable", "tensorrt"])
def test_graph_panoptic_map_equals_the_host_tail(detections_onnx, portable_onnx, tensorrt_onnx, seed, valid, flavor):
    # The graph's tail (standard ops in the portable flavour; the PanopticFusion node, run by ONNX Runtime
    # through the plugin's host build, in the TensorRT flavour) gives the map the host computes from the
    # detections, also when only part of the input is a frame.
    from trt_panoptic.data.preprocess import Letterbox
    from trt_panoptic.runtime.decode import decode_outputs

    image = scene(seed)
    p = onnx_info(tensorrt_onnx).config.model.panoptic
    fusion = {"instance_score_thresh": p.instance_score_thresh, "overlap_thresh": p.overlap_thresh,
              "stuff_area_limit": p.stuff_area_limit}
    box = Letterbox(1.0, valid, valid)
    want = decode_outputs(_ort_raw(detections_onnx, image, valid), box, **fusion)
    raw = _ort_raw({"portable": portable_onnx, "tensorrt": tensorrt_onnx}[flavor], image, valid)
    assert raw["panoptic"].shape == (1, SIZE, SIZE) and raw["segments"].shape == (1, 50 + 4, 10)
    assert (raw["panoptic"][0, valid[0]:] == 0).all() and (raw["panoptic"][0, :, valid[1]:] == 0).all()
    got = decode_outputs(raw, box, **fusion)
    np.testing.assert_array_equal(got.panoptic, want.panoptic)
    assert got.segments_info == want.segments_info
    assert any(s["isthing"] for s in got.segments_info), "the scene should place things"


def test_fp16_variant_runs_on_ort_and_stays_close(tiny, portable_onnx):
    model, cfg = tiny
    fp16 = export_onnx(model, cfg, height=SIZE, width=SIZE, fp16=True, flavor="tensorrt")
    assert onnx_info(fp16).precision == "fp16"
    inits = {i.name: i.data_type for i in fp16.graph.initializer}
    convs = [n for n in fp16.graph.node if n.op_type == "Conv"]
    assert convs and all(inits[n.input[1]] == onnx.TensorProto.FLOAT16 for n in convs)
    # box decoding / NMS stay FP32: NMS boxes and scores are float32 tensors
    types = {v.name: v.type.tensor_type.elem_type for v in fp16.graph.value_info}
    nms = [n for n in fp16.graph.node if n.op_type == "NonMaxSuppression"]
    assert nms and all(types[n.input[0]] == types[n.input[1]] == onnx.TensorProto.FLOAT for n in nms)
    roi = [n for n in fp16.graph.node if n.op_type == "RoIAlignFPN"]
    assert all(types[n.input[0]] == onnx.TensorProto.FLOAT and types[n.input[1]] == onnx.TensorProto.FLOAT16 for n in roi)
    # GroupNorm (InstanceNormalization) takes its statistics in FP32: FP16 in, casts around it
    norms = [n for n in fp16.graph.node if n.op_type == "InstanceNormalization"]
    assert norms and all(types[n.input[0]] == types[n.output[0]] == onnx.TensorProto.FLOAT for n in norms)
    from trt_panoptic.export.inspect import format_report, inspect_onnx

    islands = inspect_onnx(fp16).fp32_islands
    assert islands["InstanceNormalization"] == len(norms) and islands["Softmax"] == 1 and islands["Sigmoid"] == 1
    assert "FP32 islands in the FP16 graph: " in format_report(inspect_onnx(fp16))
    image = scene(1)
    a, b = _ort_raw(portable_onnx, image), _ort_raw(fp16, image)
    assert (a["sem_labels"] == b["sem_labels"]).mean() > 0.98
    na, nb = int(a["num_detections"][0]), int(b["num_detections"][0])
    assert abs(na - nb) <= 0.2 * na
    # the top detection survives FP16: same class, box IoU > 0.9
    assert a["classes"][0, 0] == b["classes"][0, 0]
    assert box_iou_np(a["boxes"][0, :1], b["boxes"][0, :1])[0] > 0.9


def test_bad_export_arguments_raise_one_line(tiny):
    model, cfg = tiny
    with pytest.raises(TrtPanopticError, match="multiple of 32"):
        export_onnx(model, cfg, height=100, width=128)
    with pytest.raises(TrtPanopticError, match="opset should be"):
        export_onnx(model, cfg, height=128, width=128, opset=11)
    with pytest.raises(TrtPanopticError, match="flavor should be"):
        export_onnx(model, cfg, height=128, width=128, flavor="openvino")


def test_unknown_plugin_without_registration_is_one_line_error(portable_onnx):
    bad = onnx.ModelProto()
    bad.CopyFrom(portable_onnx)
    node = onnx.helper.make_node("MysteryNMS", ["image"], ["mystery"], domain="acme", plugin_version="1", plugin_namespace="acme")
    bad.graph.node.append(node)
    with pytest.raises(TrtPanopticError, match="MysteryNMS") as e:
        ort_session(bad)
    assert "\n" not in str(e.value)


def test_raw_outputs_keep_mask_probs_for_per_instance_masks(tiny, detections_onnx):
    # --raw-outputs: the graph still ends in the map, and also hands out the mask probabilities, so a result
    # can paste per-instance masks when asked: those of the graph that stops at the detections.
    from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor

    model, cfg = tiny
    proto = export_onnx(model, cfg, height=SIZE, width=SIZE, flavor="tensorrt", raw_outputs=True)
    names = [o.name for o in proto.graph.output]
    assert names == ["sem_labels", "boxes", "scores", "classes", "mask_probs", "num_detections", "panoptic",
                     "segments", "num_segments"]
    result = OnnxRuntimePredictor(proto).predict(scene(1))
    want = OnnxRuntimePredictor(detections_onnx).predict(scene(1))
    assert result.mask_probs is not None and result.num_instances == want.num_instances > 0
    inter = np.logical_and(result.masks, want.masks).sum((1, 2))
    union = np.logical_or(result.masks, want.masks).sum((1, 2))
    assert (inter >= 0.99 * union).all() and union.all()


@pytest.mark.parametrize("tail", [False, True], ids=["portable twin", "with the panoptic tail"])
def test_graph_model_creates_every_tensor_on_its_input_device(tiny, tail):
    # With the default device set to "meta", any constant the forward makes without naming its input's
    # device lands on meta and the first op mixing it with the CPU input raises: a forward that completes
    # (and returns CPU tensors) runs on any device its module and input are moved to.
    from trt_panoptic.export.graph_model import PanopticGraphModel
    from trt_panoptic.postprocess import panoptic_table

    model, _ = tiny
    graph = PanopticGraphModel(model.eval(), SIZE, SIZE, panoptic_tail=tail).eval()
    image = torch.from_numpy(np.ascontiguousarray(scene(1).transpose(2, 0, 1)))[None]
    case = (torch.zeros(8, 8, dtype=torch.int32), torch.ones(1, 28, 28), torch.tensor([[1.0, 1.0, 5.0, 5.0]]),
            torch.tensor([0.9]), torch.tensor([0]))
    torch.set_default_device("meta")
    try:
        with torch.no_grad():
            outputs = graph(image)
        tail_outputs = panoptic_table(*case, stuff_area_limit=1, implementation="torch")
    finally:
        torch.set_default_device("cpu")
    assert all(t.device.type == "cpu" for t in (*outputs, *tail_outputs))
    assert int(outputs[graph.output_names.index("num_detections")][0]) > 0
