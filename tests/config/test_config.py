import pytest

from trt_panoptic.config import available_configs, config_from_dict, load_config
from trt_panoptic.errors import TrtPanopticError


def test_shipped_configs_load_by_name_and_path():
    assert {"r18_fpn_tiny", "r50_fpn_coco"} <= set(available_configs())
    coco = load_config("r50_fpn_coco")
    assert (coco.model.num_thing_classes, coco.model.num_semantic_classes) == (80, 54)
    assert coco.model.backbone.resnet.stride_in_1x1
    tiny = load_config("r18_fpn_tiny.yaml")
    assert tiny.model.backbone.resnet.depth == 18


def test_unknown_key_is_named_with_its_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  backbone:\n    resnet:\n      detph: 50\n")
    with pytest.raises(TrtPanopticError, match="model.backbone.resnet.detph"):
        load_config(bad)


def test_wrong_type_and_choice_are_errors():
    with pytest.raises(TrtPanopticError, match="model.backbone.resnet.depth should be int"):
        config_from_dict({"model": {"backbone": {"resnet": {"depth": "fifty"}}}})
    with pytest.raises(TrtPanopticError, match="depth should be one of"):
        config_from_dict({"model": {"backbone": {"resnet": {"depth": 42}}}})


def test_missing_config_lists_shipped_ones():
    with pytest.raises(TrtPanopticError, match="r18_fpn_tiny"):
        load_config("no_such_config")


def test_unparsable_yaml_is_one_line_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(TrtPanopticError, match=r"config .*bad\.yaml should be valid YAML, got a parse error") as exc:
        load_config(bad)
    assert "\n" not in str(exc.value)


def test_input_size_is_the_models_own_and_checked():
    from trt_panoptic.config import config_from_dict

    assert config_from_dict({}).model.input.size == []
    cfg = config_from_dict({"model": {"input": {"size": [256, 320]}}})
    assert cfg.model.input.size == [256, 320] and config_from_dict(cfg.to_dict()) == cfg
    for bad in ([256], [250, 256], [0, 256], [256, 256, 3]):
        with pytest.raises(TrtPanopticError, match="model.input.size should be"):
            config_from_dict({"model": {"input": {"size": bad}}})
