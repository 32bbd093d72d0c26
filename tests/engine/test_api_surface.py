"""Names and signatures the engine layer uses, checked against NVIDIA's *real* TensorRT Python bindings.

``../shared/tools/trt-api-stub VERSION`` makes the bindings wheel of VERSION importable with the native
libraries stubbed: enums, classes and pybind11 signatures are the real ones, nothing runs. For 10.3.0
and 11.4.0.106, in a subprocess each, every entry of ``trt_panoptic.engine.api.TRT_API`` for that major
must exist with a compatible signature and no name to avoid on that major may be used (plans included).
The builder/runner tests prove that the code touches only names in that table. This proves names and
signatures, not behaviour. Skips (with the reason) where the tool or the network is missing.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trt_panoptic.engine.api import AVOID, _signature_compatible, pybind_signatures
from trt_panoptic.engine.cuda import CUDA_RUNTIME_API, CUDA_RUNTIME_ENUMS

REPO = Path(__file__).resolve().parents[2]
STUB = Path(os.environ.get("TRT_API_STUB", REPO.parent / "shared" / "tools" / "trt-api-stub"))

CHECK = r"""
TESTS_DIR = __import__("os").environ["TESTS_DIR"]
import json, tensorrt as trt
from trt_panoptic.engine.api import AVOID, check_bindings
major = int(trt.__version__.split(".")[0])
def has(path):
    obj = trt
    try:
        for part in path.split("."):
            obj = getattr(obj, part)
        return True
    except AttributeError:
        return False
try:
    trt.Builder(trt.Logger())
    builder_runs = True
except TypeError:
    builder_runs = False
# The real code paths up to the first native call, on the real bindings: version parsing, plan, by-name
# enum lookups, Logger(...) — then the stubbed Builder/Runtime factories fail and must become one line.
import sys, tempfile
from pathlib import Path
sys.path[:0] = [TESTS_DIR, str(Path(TESTS_DIR).parent)]  # tests/engine helpers and tests/onnx_compat
from fake_trt import FakeCuda
from onnx_models import make_onnx
from trt_panoptic.engine.builder import BuildOptions, build_engine
from trt_panoptic.engine.runner import TrtRunner
from trt_panoptic.engine.sidecar import Sidecar, write_sidecar
from trt_panoptic.errors import TrtPanopticError
tmp = Path(tempfile.mkdtemp())
errors = {}
try:
    build_engine(BuildOptions(onnx=make_onnx(tmp / "m.onnx"), out=tmp / "m.engine", precision="fp32"),
                 trt=trt, gpu=lambda: ("Orin", "8.7"))
except TrtPanopticError as exc:
    errors["build"] = str(exc)
(tmp / "m.engine").write_bytes(b"engine")
write_sidecar(tmp / "m.engine", Sidecar(tensorrt_version=trt.__version__, gpu_name="Orin", compute_capability="8.7",
              precision="fp32", inputs={}, onnx_path="m.onnx", onnx_sha256=""))
try:
    TrtRunner(tmp / "m.engine", trt=trt, cuda=FakeCuda())
except TrtPanopticError as exc:
    errors["run"] = str(exc)
print(json.dumps({
    "errors": errors,
    "version": trt.__version__,
    "problems": check_bindings(trt, major),
    "avoid_present": {p: has(p) for p in AVOID[major]},
    "fp16_flag": has("BuilderFlag.FP16"),
    "builder_runs": builder_runs,
    "strongly_typed_bit": int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED),
}))
"""


def _run_with_stub(version: str) -> dict:
    if not STUB.is_file() or not shutil.which("bash"):
        pytest.skip(f"trt-api-stub not found at {STUB} (set TRT_API_STUB)")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO)}
    script = f'eval "$("$STUB" {version})" && exec "$PY" -c "$CHECK"'
    proc = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=600, cwd=REPO,
        env={**env, "STUB": str(STUB), "PY": sys.executable, "CHECK": CHECK, "TESTS_DIR": str(Path(__file__).parent)},
    )
    if proc.returncode != 0 and ("pip" in proc.stderr.lower() or "download" in proc.stderr.lower()) \
            and "Traceback" not in proc.stderr:
        pytest.skip(f"trt-api-stub {version} could not fetch the bindings (network?): {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_native_failures_are_one_line(result):
    assert "should create a builder" in result["errors"]["build"] and "\n" not in result["errors"]["build"]
    assert "should create a runtime" in result["errors"]["run"]


def test_tensorrt_10_3_bindings():
    result = _run_with_stub("10.3.0")
    _assert_native_failures_are_one_line(result)
    assert result["version"].startswith("10.3.0")
    assert result["problems"] == []
    assert result["fp16_flag"]  # 10.x still has BuilderFlag.FP16: the 10.x plan may use it
    assert not result["builder_runs"], "stubbed bindings should not build anything"
    assert result["strongly_typed_bit"] == 1  # as the fake bindings of the builder tests number it


def test_tensorrt_11_4_bindings():
    result = _run_with_stub("11.4.0.106")
    _assert_native_failures_are_one_line(result)
    assert result["version"].startswith("11.4.0")
    assert result["problems"] == []
    # the names to avoid on 11.x really are gone there, so using one would break at run time
    assert not result["fp16_flag"]
    assert result["strongly_typed_bit"] == 0  # renumbered in 11.x: why plans name members, never numbers
    gone = {"BuilderFlag.FP16", "BuilderFlag.INT8", "NetworkDefinitionCreationFlag.EXPLICIT_BATCH",
            "IInt8EntropyCalibrator2", "IBuilderConfig.int8_calibrator"}
    assert {p for p, present in result["avoid_present"].items() if not present} >= gone


def test_signature_parser_on_pybind_docs():
    class Fn:
        __doc__ = (
            "set_timing_cache(*args, **kwargs)\nOverloaded function.\n\n"
            "1. set_timing_cache(self: tensorrt.IBuilderConfig, cache: tensorrt.ITimingCache, "
            "ignore_mismatch: bool) -> bool\n\n"
            "2. set_timing_cache(self: tensorrt.IBuilderConfig, cache: tensorrt.ITimingCache, "
            "ignore_mismatch: bool, extra: Dict[str, int] = {}) -> bool\n"
        )

    sigs = pybind_signatures(Fn, "set_timing_cache")
    assert sigs[1] == [("self", False), ("cache", False), ("ignore_mismatch", False), ("extra", True)]
    assert _signature_compatible(sigs, ("cache", "ignore_mismatch"), is_method=True)
    assert not _signature_compatible(sigs, ("cache",), is_method=True)  # ignore_mismatch has no default
    assert not _signature_compatible(sigs, ("timing_cache", "ignore_mismatch"), is_method=True)


def test_avoid_lists_do_not_overlap_what_is_used():
    from trt_panoptic.engine.api import names_for

    for major, avoid in AVOID.items():
        assert not {n.path for n in names_for(major)} & set(avoid)


def test_cuda_python_names():
    """The cuda-python runtime calls of trt_panoptic.engine.cuda exist with that many parameters."""
    try:
        import cuda.bindings.runtime as rt
    except ImportError:
        pytest.skip("cuda-python (cuda.bindings) is not installed: pip install cuda-python to check its names")
    for name, nparams in CUDA_RUNTIME_API.items():
        first = getattr(rt, name).__doc__.strip().splitlines()[0]
        inside = first[first.index("(") + 1: first.rindex(")")].strip()
        assert (len(inside.split(",")) if inside else 0) == nparams, first
    for path in CUDA_RUNTIME_ENUMS:
        enum, member = path.split(".")
        assert hasattr(getattr(rt, enum), member), path
