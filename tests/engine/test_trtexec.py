"""The trtexec line printed for every build (flag names checked against trtexec's sources per version)."""
import shlex

from trt_panoptic.engine.trtexec import trtexec_args, trtexec_command
from trt_panoptic.engine.versions import select_plan


def test_10x_fp16_full_command():
    plan = select_plan("10.3", "fp16")
    args = trtexec_args(
        plan, "model.onnx", "model.engine", plugins=["build/libtrt_panoptic_plugins.so"], workspace_mb=2048,
        timing_cache="cache.bin", opt_level=4,
    )
    assert args == [
        "trtexec", "--onnx=model.onnx", "--saveEngine=model.engine", "--fp16",
        "--dynamicPlugins=build/libtrt_panoptic_plugins.so", "--memPoolSize=workspace:2048M",
        "--timingCacheFile=cache.bin", "--builderOptimizationLevel=4",
    ]


def test_10x_int8_qdq_and_legacy_cache():
    assert trtexec_args(select_plan("10.13", "int8"), "m.onnx", "m.engine")[3:] == ["--int8", "--fp16"]
    legacy = trtexec_args(select_plan("10.3", "int8", calibration_cache=True), "m.onnx", "m.engine",
                          calib_cache="calib.cache")
    assert legacy[3:] == ["--int8", "--fp16", "--calib=calib.cache"]


def test_11x_has_no_precision_flags():
    for precision in ("fp32", "fp16", "int8"):
        args = trtexec_args(select_plan("11.4", precision), "m.onnx", "m.engine")
        assert args == ["trtexec", "--onnx=m.onnx", "--saveEngine=m.engine"]
        assert not {"--fp16", "--int8", "--stronglyTyped", "--best"} & set(args)


def test_profile_shapes():
    profile = {"image": ((1, 64, 64, 3), (1, 64, 64, 3), (4, 64, 64, 3))}
    args = trtexec_args(select_plan("11.4", "fp32"), "m.onnx", "m.engine", profile=profile)
    assert args[-3:] == [
        "--minShapes=image:1x64x64x3", "--optShapes=image:1x64x64x3", "--maxShapes=image:4x64x64x3",
    ]


def test_command_is_shell_quoted():
    line = trtexec_command(select_plan("10.3", "fp16"), "my model.onnx", "out dir/m.engine")
    assert shlex.split(line)[1:3] == ["--onnx=my model.onnx", "--saveEngine=out dir/m.engine"]
