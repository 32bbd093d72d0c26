"""``trt-panoptic export`` and ``trt-panoptic inspect`` end to end, and their one-line errors."""
import json

import pytest

from trt_panoptic.cli.main import main
from trt_panoptic.modeling.checkpoint import save_checkpoint

from .tiny_model import cached_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model, cfg = cached_model()
    return str(save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, cfg))


def _one_line_error(capsys, rc):
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_export_tensorrt_flavor_then_inspect(tmp_path, checkpoint, capsys, caplog):
    caplog.set_level("INFO")
    out = tmp_path / "tiny_trt"  # no suffix: the command adds .onnx and says so
    rc = main(["export", "--weights", checkpoint, "--height", "64", "--width", "96", "--out", str(out), "--flavor", "trt"])
    assert rc == 0
    onnx_path = tmp_path / "tiny_trt.onnx"
    assert onnx_path.is_file() and not (tmp_path / "tiny_trt.onnx.tmp").exists()
    log = caplog.text
    assert "--flavor trt → tensorrt" in log and "→ " + str(onnx_path) in log and "check passed" in log
    capsys.readouterr()
    report = tmp_path / "report.json"
    assert main(["inspect", str(onnx_path), "--json", str(report)]) == 0
    text = capsys.readouterr().out
    assert "image: uint8 [1, 3, 64, 96]" in text and "sem_labels: int32 [1, 64, 96]" in text
    assert "RoIAlignFPN" in text and "plugin_namespace=trt_panoptic" in text and "trt_panoptic.flavor: tensorrt" in text
    data = json.loads(report.read_text())
    assert sorted(p["op_type"] for p in data["plugins"]) == ["PanopticFusion", "RoIAlignFPN", "RoIAlignFPN",
                                                             "SemanticUpsampleArgmax"]
    assert not any("unknown plugin" in w for w in data["warnings"])


def test_missing_weights(tmp_path, capsys):
    rc = main(["export", "--weights", str(tmp_path / "nope.pt"), "--height", "64", "--width", "64", "--out", str(tmp_path / "m.onnx")])
    assert "nope.pt not found" in _one_line_error(capsys, rc)


def test_weights_not_fitting_config_name_the_key(tmp_path, checkpoint, capsys):
    rc = main(["export", "--weights", checkpoint, "--config", "r50_fpn_coco", "--height", "64", "--width", "64",
               "--out", str(tmp_path / "m.onnx")])
    err = _one_line_error(capsys, rc)
    assert "backbone." in err and "should have shape" in err


def test_size_not_multiple_of_32(tmp_path, checkpoint, capsys):
    rc = main(["export", "--weights", checkpoint, "--height", "100", "--width", "64", "--out", str(tmp_path / "m.onnx")])
    assert "--height should be a positive multiple of 32, got 100" in _one_line_error(capsys, rc)


def test_flavor_typo_gets_a_suggestion(tmp_path, checkpoint, capsys):
    rc = main(["export", "--weights", checkpoint, "--height", "64", "--width", "64", "--out", str(tmp_path / "m.onnx"), "--flavor", "tensort"])
    assert "did you mean 'tensorrt'" in _one_line_error(capsys, rc)


@pytest.mark.parametrize("content", [b"", b"\x08\x07garbage-not-a-protobuf\xff\xff", None])
def test_inspect_corrupt_or_truncated_onnx(tmp_path, capsys, portable_onnx, content):
    path = tmp_path / "bad.onnx"
    if content is None:  # a real model cut in half
        data = portable_onnx.SerializeToString()
        content = data[: len(data) // 2]
    path.write_bytes(content)
    rc = main(["inspect", str(path)])
    assert "should be a valid ONNX model" in _one_line_error(capsys, rc)


def test_export_defaults_to_the_models_own_size(tmp_path, tiny, capsys, caplog):
    import dataclasses

    import onnx

    model, cfg = tiny
    caplog.set_level("INFO")
    # a model that records no size needs --height/--width, and both of them
    rc = main(["export", "--weights", str(save_checkpoint(tmp_path / "a.pt", model, cfg)), "--out", str(tmp_path / "a.onnx")])
    assert "the model records no input size" in _one_line_error(capsys, rc)
    rc = main(["export", "--weights", str(tmp_path / "a.pt"), "--height", "64", "--out", str(tmp_path / "a.onnx")])
    assert "should be given together" in _one_line_error(capsys, rc)
    sized = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, input=dataclasses.replace(cfg.model.input, size=[64, 96])))
    ckpt = save_checkpoint(tmp_path / "b.pt", model, sized)
    assert main(["export", "--weights", str(ckpt), "--out", str(tmp_path / "b.onnx"), "--no-check"]) == 0
    dims = [d.dim_value for d in onnx.load(str(tmp_path / "b.onnx")).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 96] and "input 64x96, the model's own size" in caplog.text
