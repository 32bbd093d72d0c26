"""The shipped recipes in calibration/ load, and their skip lists match the library default or say why not."""
from pathlib import Path

import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.quantization.pipeline import load_recipe
from trt_panoptic.quantization.qdq import DEFAULT_SKIP

RECIPES = sorted((Path(__file__).resolve().parents[2] / "calibration").glob("*.yaml"))


def test_there_are_recipes():
    assert {p.stem for p in RECIPES} >= {"entropy", "percentile", "minmax", "mse"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_loads(path):
    recipe = load_recipe(path)
    assert recipe.skip == list(DEFAULT_SKIP)
    assert recipe.num_images >= 128


def test_bad_recipe_values(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("method: percentile\npercentile: 120\n")
    with pytest.raises(TrtPanopticError, match="percentile should be in"):
        load_recipe(p)


def test_recipe_types_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_images: abc\n")
    with pytest.raises(TrtPanopticError, match="num_images should be a number"):
        load_recipe(bad)
    one = tmp_path / "one.yaml"
    one.write_text("skip: '*conv*'\n")
    assert load_recipe(one).skip == ["*conv*"]  # one pattern, not one pattern per character


def test_an_fp16_onnx_below_opset_19_is_refused_with_the_fix(tmp_path):
    from onnx import TensorProto, helper
    from onnx_compat import ONNX_IR_VERSION

    from trt_panoptic.quantization.pipeline import CalibrationRecipe, calibrate

    w = helper.make_tensor("w", TensorProto.FLOAT16, [1, 3, 1, 1], [0.0] * 3)
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [1, 1, 4, 4])], [w])
    model = helper.make_model(graph, ir_version=ONNX_IR_VERSION, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(TrtPanopticError, match="needs opset ≥ 19 for FP16 Q/DQ, got opset 17 .* --fp16 --opset 19"):
        calibrate(model, tmp_path, CalibrationRecipe())
