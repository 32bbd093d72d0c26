"""Every Predictor states the whole interface (backend, classes and their ids, thread safety, input size):
callers read the attributes directly, never probe for them."""
import pytest

from export.tiny_model import SIZE
from trt_panoptic.runtime.onnx_backend import OnnxRuntimePredictor
from trt_panoptic.runtime.predictor import Predictor, input_size
from trt_panoptic.runtime.torch_backend import TorchPredictor
from trt_panoptic.training.evaluate import ModelPredictor
from video.conftest import FakePredictor

from .test_predictors import _OrtAsEngine


def _check(p, backend, thread_safe, size):
    assert isinstance(p, Predictor)
    assert p.backend == backend and p.thread_safe is thread_safe and (p.height, p.width) == size
    assert p.thing_classes == ["disc", "box", "triangle"]
    assert isinstance(p.thing_ids, list) and isinstance(p.stuff_ids, list)


def test_backends_state_the_interface(tiny, detections_onnx, tensorrt_onnx):
    from trt_panoptic.runtime.tensorrt_backend import TensorRTPredictor

    model, cfg = tiny
    _check(TorchPredictor(model, cfg), "torch", False, (None, None))
    _check(TorchPredictor(model, cfg, SIZE, SIZE), "torch", False, (SIZE, SIZE))
    ort = OnnxRuntimePredictor(detections_onnx)
    _check(ort, "onnxruntime", True, (SIZE, SIZE))
    assert (ort.thing_ids, ort.stuff_ids) == (list(cfg.model.thing_ids), list(cfg.model.stuff_ids))
    trt = TensorRTPredictor("model.engine", config=cfg, height=SIZE, width=SIZE, runner=_OrtAsEngine(tensorrt_onnx))
    _check(trt, "tensorrt", False, (SIZE, SIZE))
    assert input_size(trt) == f"{SIZE}x{SIZE}" and input_size(TorchPredictor(model, cfg)) == "frame"


def test_model_predictor_and_the_pipeline_fake_state_the_interface(tiny):
    model, cfg = tiny
    mp = ModelPredictor(model, cfg.model.thing_classes, cfg.model.stuff_classes, thing_ids=[5, 6, 7])
    _check(mp, "torch", False, (None, None))
    assert (mp.thing_ids, mp.stuff_ids) == ([5, 6, 7], [])
    _check(FakePredictor(), "fake", False, (None, None))


@pytest.mark.parametrize("missing", ["backend", "thread_safe", "height", "thing_ids"])
def test_an_object_missing_an_attribute_is_not_a_predictor(missing):
    attrs = {"backend": "x", "thing_classes": [], "stuff_classes": [], "thing_ids": [], "stuff_ids": [],
             "thread_safe": False, "height": None, "width": None, "predict": lambda self, image: None}
    del attrs[missing]
    assert not isinstance(type("Partial", (), attrs)(), Predictor)
