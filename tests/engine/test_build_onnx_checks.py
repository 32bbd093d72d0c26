"""Reading the ONNX facts the builder needs, and rejecting an ONNX that does not fit the plan."""
import pytest

from onnx_models import make_onnx
from trt_panoptic.engine.onnx_info import check_onnx_for_plan, optimization_profile, parse_shape_arg
from trt_panoptic.engine.versions import select_plan
from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.export.contract import onnx_info


def inspect_onnx(path):
    """What the builder reads of any ONNX (these test graphs carry no trt_panoptic metadata)."""
    return onnx_info(path, require_metadata=False)


def test_inspect_kinds(tmp_path):
    plain = inspect_onnx(make_onnx(tmp_path / "a.onnx", "fp32"))
    assert plain.inputs == {"image": (1, 64, 64, 3)} and plain.input_dtypes == {"image": "UINT8"}
    assert (plain.num_qdq, plain.num_fp16, plain.plugin_ops) == (0, 0, [])
    assert inspect_onnx(make_onnx(tmp_path / "q.onnx", "qdq")).num_qdq == 2
    assert inspect_onnx(make_onnx(tmp_path / "h.onnx", "fp16")).num_fp16 == 2  # Cast-to-fp16 + fp16 weight
    assert inspect_onnx(make_onnx(tmp_path / "p.onnx", "plugin")).plugin_ops == ["RoIAlignFPN"]
    assert inspect_onnx(make_onnx(tmp_path / "d.onnx", batch="n")).dynamic_inputs == ["image"]


def test_bad_files(tmp_path):
    with pytest.raises(TrtPanopticError, match="should exist"):
        inspect_onnx(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(TrtPanopticError, match="valid model|empty"):
        inspect_onnx(broken)


@pytest.mark.parametrize(
    "version, precision, kind, match",
    [
        ("10.3", "int8", "fp32", "Q/DQ ONNX"),
        ("11.4", "int8", "fp16", "Q/DQ ONNX"),
        ("11.4", "fp16", "fp32", "FP16-typed ONNX"),
        ("10.3", "fp32", "qdq", "--precision int8"),
    ],
)
def test_onnx_must_fit_plan(tmp_path, version, precision, kind, match):
    info = inspect_onnx(make_onnx(tmp_path / "m.onnx", kind))
    with pytest.raises(TrtPanopticError, match=match):
        check_onnx_for_plan(info, select_plan(version, precision))


def test_onnx_fits_plan(tmp_path):
    fp16 = inspect_onnx(make_onnx(tmp_path / "h.onnx", "fp16"))
    assert check_onnx_for_plan(fp16, select_plan("11.4", "fp16")) == []
    assert check_onnx_for_plan(fp16, select_plan("10.3", "fp16")) == []  # the flag build accepts it too
    assert "FP16-typed" in check_onnx_for_plan(fp16, select_plan("11.4", "fp32"))[0]
    qdq = inspect_onnx(make_onnx(tmp_path / "q.onnx", "qdq"))
    assert check_onnx_for_plan(qdq, select_plan("11.4", "int8")) == []
    with pytest.raises(TrtPanopticError, match="drop --calib-cache"):
        check_onnx_for_plan(qdq, select_plan("10.3", "int8", calibration_cache=True))


def test_profile(tmp_path):
    static = inspect_onnx(make_onnx(tmp_path / "s.onnx"))
    assert optimization_profile(static) == {}
    dyn = inspect_onnx(make_onnx(tmp_path / "d.onnx", batch="n"))
    assert optimization_profile(dyn, max_batch=4) == {
        "image": ((1, 64, 64, 3), (4, 64, 64, 3), (4, 64, 64, 3))
    }
    dyn2 = inspect_onnx(make_onnx(tmp_path / "d2.onnx", "dynamic2"))
    with pytest.raises(TrtPanopticError, match="--shape image:1x1x1x3"):
        optimization_profile(dyn2)
    shape = (1, 128, 96, 3)
    assert optimization_profile(dyn2, {"image": shape}) == {"image": (shape, shape, shape)}
    with pytest.raises(TrtPanopticError, match="should fit its ONNX shape"):
        optimization_profile(dyn2, {"image": (1, 128, 96, 4)})
    with pytest.raises(TrtPanopticError, match="should name an input"):
        optimization_profile(dyn2, {"images": shape})


def test_parse_shape_arg():
    assert parse_shape_arg("image:1x512x512x3") == ("image", (1, 512, 512, 3))
    assert parse_shape_arg("ns:image:2x3") == ("ns:image", (2, 3))
    for bad in ("image", "image:1xax3", ":1x2", "image:0x3"):
        with pytest.raises(TrtPanopticError, match="NAME:DxDxD"):
            parse_shape_arg(bad)
