"""One Predictor interface: torch, onnxruntime (both flavours) and a stand-in TensorRT runner agree."""
import numpy as np
import pytest
import torch

from export.tiny_model import SIZE, scene
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.plugins import host
from trt_panoptic.runtime.decode import decode_outputs
from trt_panoptic.export.exporter import save_onnx
from trt_panoptic.modeling.checkpoint import save_checkpoint
from trt_panoptic.runtime import create_predictor, factory
from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor
from trt_panoptic.runtime.predictor import Predictor
from trt_panoptic.runtime.tensorrt_backend import TensorRTPredictor
from trt_panoptic.runtime.torch_backend import TorchPredictor


def _mask_iou(a, b):
    inter = np.logical_and(a, b).sum((1, 2))
    union = np.logical_or(a, b).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)  # two empty masks agree


def _assert_same_result(a, b, box_atol=0.5, mask_iou=0.99):
    assert (a.panoptic == b.panoptic).mean() >= 0.999
    assert (a.sem_labels == b.sem_labels).mean() >= 0.999
    assert a.num_instances == b.num_instances
    np.testing.assert_allclose(a.boxes, b.boxes, atol=box_atol)
    np.testing.assert_array_equal(a.classes, b.classes)
    assert a.masks.shape == b.masks.shape
    if a.num_instances:
        assert _mask_iou(a.masks, b.masks).min() >= mask_iou
    assert [(s["isthing"], s["category_id"]) for s in a.segments_info] == [(s["isthing"], s["category_id"]) for s in b.segments_info]


@pytest.fixture(scope="module")
def frame():
    # a non-square frame: both predictors letterbox it to SIZE×SIZE and map the result back to 90×150
    import cv2

    return cv2.resize(scene(7, 192, 320), (150, 90), interpolation=cv2.INTER_AREA)


def test_onnxruntime_and_torch_predictors_agree_on_a_letterboxed_frame(tiny, detections_onnx, portable_onnx,
                                                                         tensorrt_onnx, frame):
    model, cfg = tiny
    torch_pred = TorchPredictor(model, cfg, SIZE, SIZE)
    ort_pred = OnnxRuntimePredictor(detections_onnx)
    in_graph = {"portable": OnnxRuntimePredictor(portable_onnx), "tensorrt": OnnxRuntimePredictor(tensorrt_onnx)}
    for p in (torch_pred, ort_pred, *in_graph.values()):
        assert isinstance(p, Predictor) and p.thing_classes == ["disc", "box", "triangle"]
    a, b = (p.predict(frame) for p in (torch_pred, ort_pred))
    assert a.panoptic.shape == (90, 150) and a.masks.shape[1:] == (90, 150)
    assert a.num_instances >= 2 and any(s["isthing"] for s in a.segments_info)
    # ONNX Runtime's float32 arithmetic differs from PyTorch's (mask probabilities by up to 5e-4 here, boxes by
    # 3e-4 px): pasted at the frame's resolution, a mask of 682 px lost 8 px at the 0.5 threshold (IoU 0.988)
    _assert_same_result(a, b, mask_iou=0.98)
    # Both flavours fuse at model resolution inside the letterboxed frame (valid_hw) and their maps are
    # resized to the frame: they equal the detections fused that way by the plugin's host build, with stuff
    # below the limit dropped at the frame's resolution.
    x, box = ort_pred.prepare(frame)
    valid = np.asarray([box.resized], np.int32)
    raw = ort_pred.forward(x, valid)
    boxes = raw["boxes"]  # clipped to the frame by the graph
    assert boxes[0, :, 2].max() <= box.resized[1] and boxes[0, :, 3].max() <= box.resized[0]
    pan, table, count = host.panoptic_fusion(raw["sem_labels"], raw["mask_probs"], boxes, raw["scores"],
                                             raw["classes"], raw["num_detections"], valid, stuff_area_limit=0,
                                             max_segments=boxes.shape[1] + 4)
    fusion = dict(ort_pred.fusion)
    want = decode_outputs({**raw, "boxes": boxes, "panoptic": pan, "segments": table, "num_segments": count}, box,
                          **fusion)
    for flavor, pred in in_graph.items():
        c = pred.predict(frame)
        np.testing.assert_array_equal(c.panoptic, want.panoptic, err_msg=flavor)
        assert c.segments_info == want.segments_info and any(s["isthing"] for s in c.segments_info)
        assert c.mask_probs is None and c.masks.shape == (c.num_instances, 90, 150)  # no raw outputs: no masks


def test_torch_predictor_without_size_runs_each_frame_at_its_own_size(tiny, frame):
    model, cfg = tiny
    res = TorchPredictor(model, cfg).predict(frame)
    assert res.panoptic.shape == frame.shape[:2] and res.panoptic.dtype == np.int32


def _sidecar(**fields):
    from trt_panoptic.engine.sidecar import Sidecar

    return Sidecar(tensorrt_version="10.3.0", gpu_name="GPU", compute_capability="8.7", precision="fp16",
                   inputs={"image": [1, 3, SIZE, SIZE]}, onnx_path="/elsewhere/m.onnx", onnx_sha256="0" * 64,
                   rebuild_command="trt-panoptic build --onnx m.onnx ...", **fields)


class _OrtAsEngine:
    """Stands in for trt_panoptic.engine.runner.TrtRunner: the same named-dict run() over ONNX Runtime, the
    same ``inputs`` (tensor specs with a ``name``) and a sidecar."""

    def __init__(self, proto, sidecar=None):
        from types import SimpleNamespace

        from trt_panoptic.export.ort_ops import ort_session

        self.session = ort_session(proto)
        self.inputs = [SimpleNamespace(name=i.name) for i in self.session.get_inputs()]
        self.sidecar = sidecar or _sidecar()

    def run(self, inputs):
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(None, inputs)))


def test_tensorrt_predictor_shares_the_decode_path(tiny, tensorrt_onnx, frame):
    _, cfg = tiny
    trt_pred = TensorRTPredictor("model.engine", config=cfg, height=SIZE, width=SIZE, runner=_OrtAsEngine(tensorrt_onnx))
    _assert_same_result(trt_pred.predict(frame), OnnxRuntimePredictor(tensorrt_onnx).predict(frame), box_atol=1e-4)
    assert trt_pred.backend == "tensorrt"


def test_tensorrt_predictor_takes_config_and_size_from_the_sidecar(tmp_path, tensorrt_onnx, frame):
    # The engine carries its model: the sidecar records the ONNX's config and input size at build time, so
    # the ONNX (its path in the sidecar points nowhere here) is never reopened.
    from trt_panoptic.export.contract import onnx_info

    info = onnx_info(tensorrt_onnx)
    runner = _OrtAsEngine(tensorrt_onnx, _sidecar(model_config=info.config.to_dict(), input_size=[SIZE, SIZE]))
    pred = TensorRTPredictor(tmp_path / "m.engine", runner=runner)
    assert (pred.height, pred.width) == (SIZE, SIZE) and pred.thing_classes == ["disc", "box", "triangle"]
    _assert_same_result(pred.predict(frame), OnnxRuntimePredictor(tensorrt_onnx).predict(frame), box_atol=1e-4)
    with pytest.raises(TrtPanopticError, match="fixed 128×128"):
        TensorRTPredictor(tmp_path / "m.engine", runner=runner, height=2 * SIZE, width=2 * SIZE)
    with pytest.raises(TrtPanopticError, match="should carry its model config and input size in its sidecar"):
        TensorRTPredictor(tmp_path / "m.engine", runner=_OrtAsEngine(tensorrt_onnx))


def test_create_predictor_picks_backends(tmp_path, tiny, portable_onnx):
    model, cfg = tiny
    onnx_path = save_onnx(portable_onnx, tmp_path / "m.onnx")
    ckpt = save_checkpoint(tmp_path / "m.pt", model, cfg)
    assert create_predictor("auto", model=onnx_path).backend == "onnxruntime"
    # a checkpoint: ONNX Runtime on the CPU, torch on a GPU (the choice only; no GPU is needed to make it)
    assert create_predictor("auto", weights=ckpt).backend == "onnxruntime"
    assert factory._pick("auto", None, "cuda") == "torch-cudagraph" and factory._pick("auto", None, "cpu") == "onnxruntime"
    assert factory._pick("auto", None, "cuda:1") == "torch-cudagraph"
    with pytest.raises(TrtPanopticError, match="torch-cudagraph backend should run on a GPU, got --device cpu"):
        create_predictor("torch-cudagraph", weights=ckpt)
    if not torch.cuda.is_available():
        with pytest.raises(TrtPanopticError, match="--device cuda should name a visible GPU"):
            create_predictor("torch-cudagraph", weights=ckpt, device="cuda")
    with pytest.raises(TrtPanopticError, match="torch-cudagraph backend should get --weights"):
        create_predictor("torch-cudagraph", model=onnx_path, device="cuda")
    with pytest.raises(TrtPanopticError, match="fixed size 128x128"):
        create_predictor("onnxruntime", model=onnx_path, height=256, width=256)
    with pytest.raises(TrtPanopticError, match=".onnx or .engine"):
        create_predictor("auto", model=tmp_path / "m.pt")
    with pytest.raises(TrtPanopticError, match="backend should be one of"):
        create_predictor("openvino")
    with pytest.raises(TrtPanopticError, match="torch backend should get --weights"):
        create_predictor("torch", model=onnx_path)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(TrtPanopticError, match="tensorrt is not installed"):
            create_predictor("auto", model=engine)


def test_onnxruntime_backend_exports_weights_once(tmp_path, tiny, portable_onnx, frame, monkeypatch):
    # the export itself is tested in tests/export; here that the factory wires checkpoint → export → ORT, at
    # the model's own input size unless told otherwise, and keeps the graph on disk for the next run
    import dataclasses

    from trt_panoptic.export import exporter

    monkeypatch.setenv("TRT_PANOPTIC_CACHE", str(tmp_path / "cache"))
    model, cfg = tiny
    calls = []

    def fake_export(m, c, *, height, width, **kw):
        calls.append((c.model.thing_classes, height, width))
        return portable_onnx

    monkeypatch.setattr(exporter, "export_onnx", fake_export)
    ckpt = save_checkpoint(tmp_path / "m.pt", model, cfg)
    pred = create_predictor("onnxruntime", weights=ckpt, height=SIZE, width=SIZE)
    assert calls == [(["disc", "box", "triangle"], SIZE, SIZE)]
    assert pred.backend == "onnxruntime" and pred.predict(frame).panoptic.shape == (90, 150)
    create_predictor("onnxruntime", weights=ckpt, height=SIZE, width=SIZE)
    assert len(calls) == 1 and len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1  # reused from disk
    create_predictor("onnxruntime", weights=ckpt, height=2 * SIZE, width=SIZE)
    assert len(calls) == 2  # another size is another graph
    # without a size: the one the model records
    sized = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, input=dataclasses.replace(cfg.model.input, size=[96, 160])))
    create_predictor("onnxruntime", weights=save_checkpoint(tmp_path / "s.pt", model, sized))
    assert calls[-1][1:] == (96, 160)


def test_an_unwritable_or_damaged_export_cache_only_costs_the_export(tmp_path, tiny, portable_onnx, monkeypatch):
    from trt_panoptic.runtime import export_cache

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRT_PANOPTIC_CACHE", str(blocker / "cache"))
    calls = []
    assert export_cache.cached_export("k", lambda: calls.append(1) or portable_onnx) is portable_onnx
    monkeypatch.setenv("TRT_PANOPTIC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache" / "onnx").mkdir(parents=True)
    (tmp_path / "cache" / "onnx" / "k.onnx").write_bytes(b"truncated")
    assert export_cache.cached_export("k", lambda: calls.append(1) or portable_onnx) is portable_onnx
    assert len(calls) == 2
    assert export_cache.cached_export("k", lambda: calls.append(1) or portable_onnx).graph.node  # now kept
    assert len(calls) == 2


def test_device_is_checked_before_any_model_loads(tmp_path, tiny, portable_onnx, monkeypatch):
    import torch

    import trt_panoptic.modeling.checkpoint as checkpoint

    onnx_path = save_onnx(portable_onnx, tmp_path / "m.onnx")

    def no_load(*args, **kwargs):
        raise AssertionError("the model was loaded before the device was checked")

    monkeypatch.setattr(checkpoint, "load_model", no_load)
    with pytest.raises(TrtPanopticError, match="should be cpu, cuda or cuda:N, got 'gpu'"):
        create_predictor("torch", device="gpu")
    with pytest.raises(TrtPanopticError, match="selects the torch backend's device, got the onnxruntime backend"):
        create_predictor("auto", model=onnx_path, device="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(TrtPanopticError, match="should name a visible GPU"):
            create_predictor("torch", device="cuda")
    else:
        with pytest.raises(TrtPanopticError, match="visible GPUs"):
            create_predictor("torch", device=f"cuda:{torch.cuda.device_count()}")


def test_the_tensorrt_backend_without_a_model_says_what_is_missing():
    with pytest.raises(TrtPanopticError, match="got no --model"):
        create_predictor("tensorrt")
