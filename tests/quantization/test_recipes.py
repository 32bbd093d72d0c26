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
