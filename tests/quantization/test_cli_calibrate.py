"""``trt-panoptic calibrate`` end to end on the small net: Q/DQ ONNX + cache, recipe, and --from-cache."""
import onnx
import pytest
from onnx import numpy_helper

from trt_panoptic.cli.main import main
from trt_panoptic.quantization.cache import read_cache


def scales_of(path):
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return {n.input[0]: float(inits[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"}


def test_calibrate_writes_qdq_onnx_and_cache_and_reads_the_cache_back(model, tmp_path, capsys):
    src = tmp_path / "tiny.onnx"
    onnx.save(model, str(src))
    out, cache = tmp_path / "tiny.int8.onnx", tmp_path / "calib.cache"
    rc = main(["calibrate", "--onnx", str(src), "--data", "synthetic:1", "--num-images", "3", "--method", "percentile",
               "--out", str(out), "--cache", str(cache)])
    assert rc == 0 and out.is_file()
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["trt_panoptic.precision"] == "int8" and '"method": "percentile"' in meta["trt_panoptic.calibration"]
    parsed = read_cache(cache)
    assert parsed.version == 100300 and {"x", "r1", "c1", "a"} <= set(parsed.scales)
    # the Q/DQ model rebuilt from the cache has the same activation scales
    again = tmp_path / "again.onnx"
    assert main(["calibrate", "--onnx", str(src), "--from-cache", str(cache), "--out", str(again)]) == 0
    a, b = scales_of(out), scales_of(again)
    assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-7) for k in a)


def test_recipe_and_flags(model, tmp_path):
    src = tmp_path / "tiny.onnx"
    onnx.save(model, str(src))
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: minmax\nnum_images: 2\nskip: ['*cls_score*']\n")
    out = tmp_path / "q.onnx"
    assert main(["calibrate", "--onnx", str(src), "--data", "synthetic", "--recipe", str(recipe), "--out", str(out)]) == 0
    q = onnx.load(str(out))
    nodes = {n.name: n for n in q.graph.node}
    assert nodes["/mask_head/predictor/Conv"].input[1] == "mask_predictor.weight_dequantized"  # not skipped by this recipe
    assert nodes["/box_head/cls_score/Gemm"].input[1] == "cls_score.weight"
    # --skip none quantizes everything
    assert main(["calibrate", "--onnx", str(src), "--data", "synthetic", "--recipe", str(recipe), "--skip", "none",
                 "--out", str(out)]) == 0
    assert {n.name: n for n in onnx.load(str(out)).graph.node}["/box_head/cls_score/Gemm"].input[1] != "cls_score.weight"


def test_user_errors_are_one_line(model, tmp_path, capsys):
    src = tmp_path / "tiny.onnx"
    onnx.save(model, str(src))
    bad = tmp_path / "bad.yaml"
    bad.write_text("methd: entropy\n")
    assert main(["calibrate", "--onnx", str(src), "--data", "synthetic", "--recipe", str(bad), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "got 'methd'" in capsys.readouterr().err
    assert main(["calibrate", "--onnx", str(src), "--data", "synthetic", "--method", "kl", "--out", str(tmp_path / "q.onnx")]) == 2
    assert "--method should be one of" in capsys.readouterr().err
    stale = tmp_path / "stale.cache"
    stale.write_text("TRT-100300-EntropyCalibration2\nx: 3c010a14\n/old/export/Conv_output_0: 3c010a14\n")
    assert main(["calibrate", "--onnx", str(src), "--from-cache", str(stale), "--out", str(tmp_path / "q.onnx")]) == 2
    err = capsys.readouterr().err
    assert "'/old/export/Conv_output_0' missing" in err and err.count("\n") == 1
