"""TensorRT calibration cache: TensorRT's text format, read back, and checked against the ONNX."""
import struct

import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.quantization.cache import (
    check_cache_matches, format_cache, hex_to_scale, read_cache, scale_to_hex, version_number, write_cache,
)


def test_format_matches_tensorrt():
    # IEEE-754 big-endian float32: 1.0 = 3f800000, 2.0 = 40000000, -0.5 = bf000000
    assert scale_to_hex(1.0) == "3f800000" and scale_to_hex(-0.5) == "bf000000"
    # TensorRT's own cache of MNIST's softmax output (amax ≈ 1) reads "prob: 3c010a14" ≈ 1/127
    assert hex_to_scale("3c010a14") == pytest.approx(1 / 127, rel=1e-3)
    assert version_number("10.3.0") == 100300 and version_number("8.6.1") == 8601
    text = format_cache({"x": 1.0, "/stem/Relu_output_0": 2.0}, "10.3.0")
    assert text == "TRT-100300-EntropyCalibration2\nx: 3f800000\n/stem/Relu_output_0: 40000000\n"


def test_round_trip(tmp_path):
    scales = {"x": 0.0123, "r1": 0.5, "name with: colon": 3.0}
    path = write_cache(tmp_path / "calib.cache", scales, "10.8.0")
    cache = read_cache(path)
    assert cache.version == 100800 and cache.algorithm == "EntropyCalibration2"
    assert cache.scales == {k: struct.unpack(">f", struct.pack(">f", v))[0] for k, v in scales.items()}
    assert cache.amax()["r1"] == pytest.approx(63.5)


def test_mismatched_tensor_names_are_rejected_naming_one(model, tmp_path):
    path = write_cache(tmp_path / "calib.cache", {"x": 0.1, "r1": 0.1, "conv_from_another_export": 0.1, "zz": 0.2})
    with pytest.raises(TrtPanopticError, match="'conv_from_another_export' missing \\(2 of 4 missing\\)"):
        check_cache_matches(read_cache(path), model, source=str(path))
    check_cache_matches(read_cache(write_cache(tmp_path / "ok.cache", {"x": 0.1, "r2": 0.3})), model)


def test_malformed_cache_is_a_user_error(tmp_path):
    bad = tmp_path / "bad.cache"
    bad.write_text("hello\n")
    with pytest.raises(TrtPanopticError, match="should start with 'TRT-<version>-<calibrator>'"):
        read_cache(bad)
    bad.write_text("TRT-100300-EntropyCalibration2\nx: 3c010a14\ny 3c01\n")
    with pytest.raises(TrtPanopticError, match=r"bad.cache:3 should read"):
        read_cache(bad)
    with pytest.raises(TrtPanopticError, match="not found"):
        read_cache(tmp_path / "missing.cache")
