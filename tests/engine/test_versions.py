"""Build-plan selection per TensorRT version (docs/ARCHITECTURE.md, "TensorRT")."""
import pytest

from trt_panoptic.engine.versions import (
    ONNX_ANY,
    ONNX_FP16_TYPED,
    ONNX_FP32_FOR_CALIB,
    ONNX_QDQ,
    TrtVersion,
    parse_version,
    select_plan,
)
from trt_panoptic.errors import TrtPanopticError


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10.3", TrtVersion(10, 3, 0)),
        ("10.3.0.30", TrtVersion(10, 3, 0, 30)),
        ("10.13.0.35", TrtVersion(10, 13, 0, 35)),
        ("11.4.0.106", TrtVersion(11, 4, 0, 106)),
        ("10.16.1.11+cuda13", TrtVersion(10, 16, 1, 11)),
    ],
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


def test_version_order_and_release():
    assert parse_version("10.13") > parse_version("10.3")  # numeric, not lexicographic
    assert parse_version("10.3.0.30").same_release(parse_version("10.3.0.26"))
    assert not parse_version("10.3.0").same_release(parse_version("10.4.0"))
    assert str(parse_version("11.4.0.106")) == "11.4.0.106"


@pytest.mark.parametrize("bad", ["", "ten", "v10.3"])
def test_parse_version_rejects(bad):
    with pytest.raises(TrtPanopticError, match="--target-trt"):
        parse_version(bad)


# version, precision, calibration cache → network flags, builder flags, ONNX it needs, trtexec flags
PLAN_TABLE = [
    ("10.3", "fp32", False, (), (), ONNX_ANY, ()),
    # reduced precision from an FP32 ONNX on 10.x: the FP32 islands pinned (OBEY_PRECISION_CONSTRAINTS)
    ("10.3", "fp16", False, (), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_ANY, ("--fp16",)),
    ("10.3", "int8", False, (), ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_QDQ, ("--int8", "--fp16")),
    ("10.3", "int8", True, (), ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_FP32_FOR_CALIB, ("--int8", "--fp16")),
    ("10.13", "fp32", False, (), (), ONNX_ANY, ()),
    ("10.13", "fp16", False, (), ("FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_ANY, ("--fp16",)),
    ("10.13", "int8", False, (), ("INT8", "FP16", "OBEY_PRECISION_CONSTRAINTS"), ONNX_QDQ, ("--int8", "--fp16")),
    ("11.4", "fp32", False, ("STRONGLY_TYPED",), (), ONNX_ANY, ()),
    ("11.4", "fp16", False, ("STRONGLY_TYPED",), (), ONNX_FP16_TYPED, ()),
    ("11.4", "int8", False, ("STRONGLY_TYPED",), (), ONNX_QDQ, ()),
]


@pytest.mark.parametrize("version, precision, cache, net, flags, onnx_req, trtexec", PLAN_TABLE)
def test_plan_table(version, precision, cache, net, flags, onnx_req, trtexec):
    plan = select_plan(version, precision, calibration_cache=cache)
    assert plan.network_flags == net
    assert plan.builder_flags == flags
    assert plan.onnx_requirement == onnx_req
    assert plan.trtexec_precision_args == trtexec
    assert plan.uses_calibration_cache == cache
    assert plan.strongly_typed == (version.startswith("11"))


@pytest.mark.parametrize("version", ["10.3", "11.4"])
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_the_fp16_typed_export_builds_strongly_typed_on_every_version(version, precision):
    # FP16 (and INT8 from its Q/DQ version) take their per-layer types from the graph on 10.x as on 11.x
    plan = select_plan(version, precision, fp16_typed_onnx=True)
    assert plan.network_flags == ("STRONGLY_TYPED",) and plan.builder_flags == () and not plan.pins_fp32


def test_plan_11_never_names_removed_members():
    for precision in ("fp32", "fp16", "int8"):
        names = select_plan("11.4", precision).enum_names()
        assert not {"BuilderFlag.FP16", "BuilderFlag.INT8", "NetworkDefinitionCreationFlag.EXPLICIT_BATCH"} & set(names)
        assert names[0] == "NetworkDefinitionCreationFlag.STRONGLY_TYPED"


def test_plan_describe_says_why():
    text = select_plan("11.4", "fp16").describe()
    assert "strongly typed" in text and "FP16-typed ONNX" in text and "removed BuilderFlag.FP16" in text


def test_calibration_cache_only_on_10x_int8():
    with pytest.raises(TrtPanopticError, match="calibrators were removed in 11.x"):
        select_plan("11.4", "int8", calibration_cache=True)
    with pytest.raises(TrtPanopticError, match="only applies to int8"):
        select_plan("10.3", "fp16", calibration_cache=True)


@pytest.mark.parametrize("version", ["8.6.1", "9.2", "12.0"])
def test_unsupported_major(version):
    with pytest.raises(TrtPanopticError, match="should be 10.x or 11.x"):
        select_plan(version, "fp16")


def test_unknown_precision():
    with pytest.raises(TrtPanopticError, match="fp32, fp16, int8"):
        select_plan("10.3", "bf16")
