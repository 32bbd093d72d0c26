"""The TensorRT runner against the recording fake bindings and a host-memory CUDA backend: sidecar
checks before deserializing, named I/O, pinned buffers, H2D → execute_async_v3 → D2H on one stream,
CUDA-graph replay, and every tensorrt name it touches declared in TRT_API."""
import numpy as np
import pytest

from fake_trt import GPU, FakeCuda, assert_names_declared, make_fake_trt
from onnx_models import fake_plugin_library, make_onnx
from trt_panoptic.engine.builder import BuildOptions, build_engine
from trt_panoptic.engine.runner import TrtRunner
from trt_panoptic.errors import TrtPanopticError


def _engine(tmp_path, version="10.3.0", batch=1, plugin=None):
    trt, _ = make_fake_trt(version)
    onnx = make_onnx(tmp_path / "m.onnx", "plugin" if plugin else "fp32", batch=batch)
    opts = BuildOptions(onnx=onnx, out=tmp_path / "m.engine", precision="fp32", plugin=plugin,
                        max_batch=4 if batch != 1 else 1)
    build_engine(opts, trt=trt, gpu=GPU)
    return tmp_path / "m.engine"


def _runner(engine, version="10.3.0", gpu=("Orin", "8.7"), **kwargs):
    cuda = FakeCuda(gpu)
    trt, rec = make_fake_trt(version, cuda=cuda)
    return TrtRunner(engine, trt=trt, cuda=cuda, **kwargs), cuda, rec


@pytest.mark.parametrize("version", ["10.3.0", "11.4.0.106"])
def test_run_named_io(tmp_path, version):
    runner, cuda, rec = _runner(_engine(tmp_path, version), version)
    assert [(s.name, s.shape, s.dtype) for s in runner.inputs] == [("image", (1, 64, 64, 3), np.uint8)]
    assert [(s.name, s.dtype) for s in runner.outputs] == [("out", np.float32)]
    image = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    out = runner.run({"image": image})
    np.testing.assert_array_equal(out["out"], image.astype(np.float32) * 0.5)
    assert cuda.ops == ["h2d", "exec", "d2h", "sync"]
    second = runner.run({"image": image[:, ::-1].copy()})
    assert not np.shares_memory(second["out"], out["out"])  # results are copies, buffers are reused
    assert len(cuda.memory) == 2  # one device buffer per tensor, not per call
    runner.close()
    assert cuda.closed and not cuda.memory
    assert {"Runtime.deserialize_cuda_engine", "IExecutionContext.set_tensor_address",
            "IExecutionContext.execute_async_v3", "ICudaEngine.get_tensor_mode", "nptype"} <= rec.names
    assert_names_declared(rec, int(version.split(".")[0]))


def test_cuda_graph_captures_once_and_replays(tmp_path):
    runner, cuda, _ = _runner(_engine(tmp_path), cuda_graph=True)
    rng = np.random.default_rng(1)
    for _ in range(3):
        image = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
        np.testing.assert_array_equal(runner.run({"image": image})["out"], image * np.float32(0.5))
    # warm-up run, capture, then graph launches only
    assert cuda.ops == ["h2d", "exec", "d2h", "sync", "capture", "graph", "sync", "graph", "sync", "graph", "sync"]


def test_a_failed_capture_falls_back_to_plain_runs_and_still_frees_everything(tmp_path, caplog):
    # TensorRT's enqueue fails inside the capture: the capture is ended (not left open, where CUDA would
    # refuse every cudaFree and synchronize), one warning, and the runner goes on without a graph
    cuda = FakeCuda(capture_fails=True)
    trt, _ = make_fake_trt("10.3.0", cuda=cuda)
    runner = TrtRunner(_engine(tmp_path), trt=trt, cuda=cuda, cuda_graph=True)
    image = np.full((1, 64, 64, 3), 6, np.uint8)
    for _ in range(2):
        assert (runner.run({"image": image})["out"] == 3).all()
    assert cuda.capturing is None and "abort-capture" in cuda.ops and "graph" not in cuda.ops
    assert caplog.text.count("CUDA graph capture of m.engine failed") == 1 and not runner.cuda_graph
    runner.close()
    assert cuda.memory == {} and cuda.closed  # every buffer freed


def test_dynamic_batch_sets_shape_and_reallocates(tmp_path):
    runner, cuda, _ = _runner(_engine(tmp_path, batch="n"), cuda_graph=True)
    assert runner.inputs[0].shape == (-1, 64, 64, 3)
    for batch in (1, 3):
        image = np.full((batch, 64, 64, 3), 4, np.uint8)
        out = runner.run({"image": image})["out"]
        assert out.shape == (batch, 64, 64, 3) and (out == 2).all()
    assert cuda.ops.count("capture") == 2 and "destroy-graph" in cuda.ops  # new shape, new graph


def test_sidecar_checked_before_deserializing(tmp_path):
    engine = _engine(tmp_path, "10.3.0")
    with pytest.raises(TrtPanopticError, match="built with \\(10.3.0\\), got 10.13.0"):
        _runner(engine, "10.13.0")
    with pytest.raises(TrtPanopticError, match="compute capability 8.7 \\(Orin\\), got 9.0"):
        _runner(engine, gpu=("NVIDIA H100", "9.0"))


def test_plugin_library_from_sidecar_and_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("TRT_PANOPTIC_PLUGIN_BUILD", str(tmp_path))  # the library is this package's own build
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so", b"v1")
    engine = _engine(tmp_path, plugin=lib)
    runner, _, _ = _runner(engine)  # the sidecar names the library: loaded without being passed
    assert runner.trt.registry_._loaded == [str(lib)]
    other = fake_plugin_library(tmp_path / "other.so", b"v2")
    with pytest.raises(TrtPanopticError, match="plugin library should be the one the engine was built with"):
        _runner(engine, plugin=other)


def test_bad_inputs(tmp_path):
    runner, _, _ = _runner(_engine(tmp_path))
    with pytest.raises(TrtPanopticError, match="should be uint8, got float32"):
        runner.run({"image": np.zeros((1, 64, 64, 3), np.float32)})
    with pytest.raises(TrtPanopticError, match="should have shape 1x64x64x3, got 1x32x64x3"):
        runner.run({"image": np.zeros((1, 32, 64, 3), np.uint8)})
    with pytest.raises(TrtPanopticError, match="missing \\['image'\\], unknown \\['img'\\]"):
        runner.run({"img": np.zeros((1, 64, 64, 3), np.uint8)})


def test_missing_engine(tmp_path):
    with pytest.raises(TrtPanopticError, match="engine file should exist"):
        _runner(tmp_path / "none.engine")


def test_tensorrt_available_gives_a_reason():
    import importlib.util

    from trt_panoptic.engine.runner import tensorrt_available

    ok, reason = tensorrt_available()
    if importlib.util.find_spec("tensorrt") is None:
        assert not ok and "pip install tensorrt" in reason
    else:
        assert ok or "cuda-python" in reason


def test_a_sidecar_cannot_make_the_runner_load_any_library(tmp_path, monkeypatch):
    # the sidecar is a JSON file beside the engine: it may name only this package's own build, unless told
    monkeypatch.setenv("TRT_PANOPTIC_PLUGIN_BUILD", str(tmp_path / "own_build"))
    (tmp_path / "elsewhere").mkdir()
    lib = fake_plugin_library(tmp_path / "elsewhere" / "libtrt_panoptic_plugins.so")
    engine = _engine(tmp_path, plugin=lib)
    with pytest.raises(TrtPanopticError, match="not this package's own build.*pass --plugins"):
        _runner(engine)
    explicit, _, _ = _runner(engine, plugin=lib)
    trusted, _, _ = _runner(engine, trust_sidecar_plugin=True)
    assert explicit.trt.registry_._loaded == [str(lib)] and trusted.trt.registry_._loaded == [str(lib)]


def test_two_runners_in_one_process_share_the_plugin_library(tmp_path, monkeypatch):
    monkeypatch.setenv("TRT_PANOPTIC_PLUGIN_BUILD", str(tmp_path))
    # benchmarks/trt_e2e.sh runs a stream runner then a CUDA-graph runner in one process
    lib = fake_plugin_library(tmp_path / "libtrt_panoptic_plugins.so")
    engine = _engine(tmp_path, plugin=lib)
    cuda = FakeCuda(("Orin", "8.7"))
    trt, _ = make_fake_trt("10.3.0", cuda=cuda)
    first, second = TrtRunner(engine, trt=trt, cuda=cuda), TrtRunner(engine, trt=trt, cuda=cuda)
    assert trt.registry_._loaded == [str(lib)] and first.engine is not None and second.engine is not None
