"""Real TensorRT on a real GPU: build the tiny ONNX, run it through TrtRunner, compare with numpy.

Skips (with the reason) where TensorRT, a CUDA binding or a GPU is missing — i.e. on every machine this
project has had so far; nothing here has run yet. benchmarks/trt_e2e.sh does the same for the full model.
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
