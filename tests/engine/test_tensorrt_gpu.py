"""Real TensorRT on a real GPU: build the tiny ONNX, run it through TrtRunner, compare with numpy.

Skips (with the reason) where TensorRT, a CUDA binding or a GPU is missing — i.e. on every machine this
project has had so far; nothing here has run yet. The last test builds the bundled model itself (plugins,
NMS, data-dependent gathers); benchmarks/trt_e2e.sh times it and measures its PQ.
"""
import importlib.util

import numpy as np
import pytest

from onnx_models import make_onnx


def _gpu_reason() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "TensorRT is not installed (pip install tensorrt / JetPack)"
    if importlib.util.find_spec("cuda") is None and importlib.util.find_spec("pycuda") is None:
        return "no CUDA binding (pip install cuda-python)"
    try:
        from trt_panoptic.engine.cuda import gpu_info

        gpu_info()
    except Exception as exc:  # no driver / no device
        return f"no usable GPU: {exc}"
    return None


REASON = _gpu_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


def _build_and_run(tmp_path, precision, kind, cuda_graph=False, batch=1):
    from trt_panoptic.engine.builder import BuildOptions, build_engine
    from trt_panoptic.engine.runner import TrtRunner

    onnx = make_onnx(tmp_path / f"{kind}.onnx", kind, batch=batch)
    sidecar = build_engine(BuildOptions(onnx=onnx, out=tmp_path / "m.engine", precision=precision,
                                        max_batch=2 if batch != 1 else 1, timing_cache=tmp_path / "t.cache"))
    image = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    with TrtRunner(tmp_path / "m.engine", cuda_graph=cuda_graph) as runner:
        outs = [runner.run({"image": image})["out"] for _ in range(3)]
    return sidecar, image, outs


def _major():
    import tensorrt

    return int(tensorrt.__version__.split(".")[0])


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_fp32_exact(tmp_path, cuda_graph):
    sidecar, image, outs = _build_and_run(tmp_path, "fp32", "fp32", cuda_graph)
    for out in outs:
        np.testing.assert_allclose(out, image.astype(np.float32) * 0.5, rtol=1e-6)
    assert (tmp_path / "t.cache").stat().st_size > 0 and sidecar.compute_capability


def test_fp16(tmp_path):
    kind = "fp16" if _major() >= 11 else "fp32"
    _, image, outs = _build_and_run(tmp_path, "fp16", kind)
    np.testing.assert_allclose(outs[-1], image.astype(np.float32) * 0.5, rtol=1e-3)


def test_int8_qdq(tmp_path):
    _, image, outs = _build_and_run(tmp_path, "int8", "qdq")
    reference = np.clip(np.round(image.astype(np.float32) / 0.1), -128, 127) * 0.1 * 0.5
    np.testing.assert_allclose(outs[-1], reference, atol=0.06)


def test_dynamic_batch(tmp_path):
    _, image, outs = _build_and_run(tmp_path, "fp32", "fp32", batch="n")
    np.testing.assert_allclose(outs[0], image.astype(np.float32) * 0.5, rtol=1e-6)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_the_bundled_model_end_to_end(tmp_path, precision):
    # What matters first on a TensorRT machine: the real graph — our three plugins, TensorRT's NMS, the
    # data-dependent gathers and scatters — built from the FP16-typed export (int8: its Q/DQ version, FP16
    # scales), giving the panoptic maps ONNX Runtime gives on the FP32 portable export.
    from trt_panoptic.data.synthetic import default_categories, render_scene
    from trt_panoptic.engine.builder import BuildOptions, build_engine
    from trt_panoptic.export.exporter import export_onnx, save_onnx
    from trt_panoptic.modeling.checkpoint import load_model
    from trt_panoptic.plugins.build import PLUGIN_LIBRARY_NAME, cmake_build
    from trt_panoptic.quantization.pipeline import CalibrationRecipe, calibrate
    from trt_panoptic.quantization.qdq import FP16_QDQ_OPSET
    from trt_panoptic.runtime import create_predictor

    model, cfg = load_model(None)
    size = tuple(cfg.model.input.size)
    reference = export_onnx(model, cfg, height=size[0], width=size[1])
    graph = export_onnx(model, cfg, height=size[0], width=size[1], flavor="tensorrt", fp16=True, opset=FP16_QDQ_OPSET)
    if precision == "int8":
        graph = calibrate(graph, "synthetic:77", CalibrationRecipe(method="mse", num_images=32), progress=False).model
    save_onnx(reference, tmp_path / "ref.onnx")
    save_onnx(graph, tmp_path / "m.onnx")
    library = cmake_build() / PLUGIN_LIBRARY_NAME
    assert library.is_file(), "the TensorRT plugin library should build where TensorRT is installed"
    build_engine(BuildOptions(onnx=tmp_path / "m.onnx", out=tmp_path / "m.engine", precision=precision, plugin=library))
    trt = create_predictor("tensorrt", model=tmp_path / "m.engine", plugins=library)
    ort = create_predictor("onnxruntime", model=tmp_path / "ref.onnx")
    rng = np.random.default_rng(5)
    agree = []
    for _ in range(8):
        frame, _, _ = render_scene(rng, size[0], size[1], default_categories())
        a, b = trt.predict(frame), ort.predict(frame)
        agree.append(float(np.mean(np.asarray(a.sem_labels) == np.asarray(b.sem_labels))))
        assert len(a.segments_info) > 0
    assert min(agree) > (0.99 if precision == "fp16" else 0.97), agree
