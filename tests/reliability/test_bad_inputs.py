"""Broken, foreign and oversized inputs: one line and a non-zero exit, or skipped-and-counted — never silent.

Before: a truncated JPEG was predicted (bottom half grey, labelled "road"); an 8000×8000 PNG of 200 KB took
GBs and minutes; a JSON segment missing from its PNG lowered PQ silently and `data check` said OK; convert
tracebacked on a truncated `.pkl`, a torch archive named `.pkl` and `RES2_OUT_CHANNELS: abc`; calibrate
tracebacked inside ONNX Runtime on another model's ONNX; export checked an unwritable --out only after the
export.
"""
import json
import shutil

import cv2
import numpy as np
import pytest
import yaml

from trt_panoptic.cli.main import main
from trt_panoptic.data.synthetic import generate_synthetic_dataset

from .conftest import checksums, the_error


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """A good JPEG, a JPEG and a PNG cut in half, and an 8000×8000 PNG (a small file: one colour)."""
    folder = tmp_path_factory.mktemp("pictures")
    image = np.random.default_rng(0).integers(0, 255, (96, 128, 3), np.uint8)
    jpg = cv2.imencode(".jpg", image)[1].tobytes()
    png = cv2.imencode(".png", image)[1].tobytes()
    (folder / "good.jpg").write_bytes(jpg)
    (folder / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    (folder / "cut.png").write_bytes(png[: len(png) // 2])
    (folder / "huge.png").write_bytes(cv2.imencode(".png", np.zeros((8000, 8000, 3), np.uint8))[1].tobytes())
    return folder


@pytest.mark.parametrize("name, reason", [("cut.jpg", "truncated JPEG"), ("cut.png", "truncated PNG"),
                                          ("huge.png", "got 8000x8000 pixels, above 40,000,000")])
def test_predict_refuses_a_broken_or_huge_picture(pictures, tmp_path, capsys, name, reason):
    rc = main(["predict", "--input", str(pictures / name), "--output", str(tmp_path / "out")])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and reason in err and name in err, err
    assert not any((tmp_path / "out").glob("*.png"))


def test_predict_on_a_folder_skips_broken_pictures_and_counts_them(pictures, tmp_path, capsys):
    rc = main(["predict", "--input", str(pictures), "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 0 and "wrote 1 result(s)" in out and "skipped 3 unreadable" in out, out
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["good.png"]


def test_the_pixel_limit_is_the_users_to_set(pictures, tmp_path, capsys):
    rc = main(["predict", "--input", str(pictures / "good.jpg"), "--output", str(tmp_path / "out"),
               "--max-pixels", "1000"])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "128x96 pixels, above 1,000 (--max-pixels)" in err, err


def test_run_counts_broken_pictures_of_a_folder_as_corrupt_frames(pictures, tmp_path, capsys):
    stats = tmp_path / "stats.json"
    rc = main(["run", "--source", str(pictures), "--output", "none", "--backend", "torch", "--no-progress",
               "--stats", str(stats)])
    assert rc == 0, capsys.readouterr().err
    record = json.loads(stats.read_text())
    assert record["frames_written"] == 1 and record["corrupt"] == 3, record


@pytest.fixture()
def dataset_with_a_phantom_segment(tmp_path):
    """A synthetic dataset whose JSON lists one segment more than its first PNG holds."""
    data = generate_synthetic_dataset(tmp_path / "d", 2, seed=1, size=(64, 64), progress=False)
    gt = json.loads((data / "panoptic.json").read_text())
    segments = gt["annotations"][0]["segments_info"]
    segments.append({**segments[-1], "id": max(s["id"] for s in segments) + 1000})
    (data / "panoptic.json").write_text(json.dumps(gt))
    return data


def test_eval_refuses_a_json_segment_absent_from_its_png(dataset_with_a_phantom_segment, tmp_path, capsys):
    # the COCO panoptic API raises on it; before, PQ came out lower and nothing was said
    before = checksums(dataset_with_a_phantom_segment)
    rc = main(["eval", "--data", str(dataset_with_a_phantom_segment), "--json", str(tmp_path / "m.json"),
               "--backend", "torch", "--no-progress"])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "in the JSON's segments_info but not in the PNG" in err, err
    assert not (tmp_path / "m.json").exists() and checksums(dataset_with_a_phantom_segment) == before


def test_data_check_reports_a_json_segment_absent_from_its_png(dataset_with_a_phantom_segment, capsys):
    rc = main(["data", "check", "--data", str(dataset_with_a_phantom_segment)])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "not in the PNG" in err, err


@pytest.fixture()
def parity(fixtures, tmp_path):
    """A copy of the detectron2 parity fixture's weights and config to break."""
    for name in ("model_final.pth", "config.yaml"):
        shutil.copy(fixtures / "detectron2_parity" / name, tmp_path / name)
    return tmp_path


def test_convert_refuses_a_truncated_pickle(parity, capsys):
    import pickle

    import torch

    state = torch.load(parity / "model_final.pth", weights_only=True)["model"]
    blob = pickle.dumps({"model": {k: v.numpy() for k, v in state.items()}})
    (parity / "model.pkl").write_bytes(blob[: len(blob) // 2])
    rc = main(["convert", str(parity / "model.pkl"), "--d2-config", str(parity / "config.yaml"), "--out",
               str(parity / "out.pt"), "--trust-pickle"])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "is it truncated?" in err, err
    assert not (parity / "out.pt").exists()


def test_convert_reads_a_torch_archive_named_pkl_as_the_pth_it_is(parity, capsys):
    (parity / "model_final.pth").rename(parity / "model.pkl")
    rc = main(["convert", str(parity / "model.pkl"), "--d2-config", str(parity / "config.yaml"), "--out",
               str(parity / "out.pt")])
    assert rc == 0, capsys.readouterr().err
    assert (parity / "out.pt").is_file()


def test_convert_names_a_config_key_that_is_not_a_number(parity, capsys):
    cfg = yaml.safe_load((parity / "config.yaml").read_text())
    cfg["MODEL"]["RESNETS"]["RES2_OUT_CHANNELS"] = "abc"
    (parity / "config.yaml").write_text(yaml.safe_dump(cfg))
    rc = main(["convert", str(parity / "model_final.pth"), "--d2-config", str(parity / "config.yaml"), "--out",
               str(parity / "out.pt")])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "MODEL.RESNETS.RES2_OUT_CHANNELS should be an integer, got 'abc'" in err, err


def test_calibrate_refuses_another_models_onnx(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 62, 62])
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "other", [x], [y], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "other.onnx")
    data = generate_synthetic_dataset(tmp_path / "d", 2, seed=1, size=(64, 64), progress=False)
    rc = main(["calibrate", "--onnx", str(tmp_path / "other.onnx"), "--data", str(data), "--out",
               str(tmp_path / "q.onnx"), "--num-images", "2"])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "uint8 [1, 3, H, W] images" in err and "FLOAT [1, 3, 64, 64]" in err, err
    assert not (tmp_path / "q.onnx").exists()


def test_export_checks_its_output_before_exporting(read_only_dir, monkeypatch, capsys):
    import trt_panoptic.export.exporter as exporter

    def must_not_run(*args, **kwargs):
        raise AssertionError("the export ran before --out was checked")

    monkeypatch.setattr(exporter, "export_onnx", must_not_run)
    rc = main(["export", "--out", str(read_only_dir / "m.onnx"), "--height", "64", "--width", "64"])
    err = the_error(capsys.readouterr().err)
    assert rc == 2 and "writable" in err, err
