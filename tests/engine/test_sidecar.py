"""The engine sidecar: written next to the engine, read back, and checked against what is running."""
import json

import pytest

from trt_panoptic.engine.sidecar import Sidecar, check_sidecar, read_sidecar, sidecar_path, write_sidecar
from trt_panoptic.errors import TrtPanopticError

REBUILD = "trt-panoptic build --onnx m.onnx --precision fp16 --out m.engine --plugins libp.so"


def _sidecar(**overrides):
    fields = dict(
        tensorrt_version="10.3.0.30", gpu_name="Orin", compute_capability="8.7", precision="fp16",
        inputs={"image": [1, 512, 512, 3]}, onnx_path="m.onnx", onnx_sha256="a" * 64,
        plugin_path="libp.so", plugin_sha256="b" * 64, builder_flags=["FP16"], rebuild_command=REBUILD,
    )
    fields.update(overrides)
    return Sidecar(**fields)


RUNNING_OK = dict(tensorrt_version="10.3.0.26", gpu_name="Orin", compute_capability="8.7", plugin_sha256="b" * 64)


def test_roundtrip(tmp_path):
    engine = tmp_path / "m.engine"
    path = write_sidecar(engine, _sidecar())
    assert path == sidecar_path(engine) == tmp_path / "m.engine.json"
    assert json.loads(path.read_text())["compute_capability"] == "8.7"
    assert read_sidecar(engine) == _sidecar()
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_match_passes():
    assert check_sidecar(_sidecar(), **RUNNING_OK) == []  # same release, build number may differ


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(tensorrt_version="10.4.0.26"), "TensorRT it was built with \\(10.3.0.30\\), got 10.4.0.26"),
        (dict(tensorrt_version="11.4.0.106"), "TensorRT it was built with"),
        (dict(compute_capability="9.0", gpu_name="NVIDIA H100"), "compute capability 8.7 \\(Orin\\), got 9.0"),
        (dict(plugin_sha256="c" * 64), "plugin library should be the one the engine was built with"),
        (dict(plugin_sha256=None), "got none loaded — pass --plugins libp.so"),
    ],
)
def test_mismatch_is_one_line_with_rebuild(change, match):
    running = {**RUNNING_OK, **change}
    with pytest.raises(TrtPanopticError, match=match) as err:
        check_sidecar(_sidecar(), **running)
    assert "\n" not in str(err.value)
    assert REBUILD in str(err.value)


def test_same_capability_other_gpu_warns(caplog):
    warnings = check_sidecar(_sidecar(), **{**RUNNING_OK, "gpu_name": "Orin NX"})
    assert len(warnings) == 1 and "built on Orin, running on Orin NX" in warnings[0]
    assert "Orin NX" in caplog.text


def test_engine_without_plugins_runs_with_any():
    assert check_sidecar(_sidecar(plugin_path=None, plugin_sha256=None), **{**RUNNING_OK, "plugin_sha256": None}) == []


def test_missing_and_broken(tmp_path):
    with pytest.raises(TrtPanopticError, match="should have its sidecar m.engine.json"):
        read_sidecar(tmp_path / "m.engine")
    sidecar_path(tmp_path / "m.engine").write_text("{not json")
    with pytest.raises(TrtPanopticError, match="should be JSON"):
        read_sidecar(tmp_path / "m.engine")
    sidecar_path(tmp_path / "m.engine").write_text(json.dumps({"precision": "fp16"}))
    with pytest.raises(TrtPanopticError, match="should have field 'tensorrt_version'"):
        read_sidecar(tmp_path / "m.engine")
