"""``trt-panoptic train`` and ``trt-panoptic eval`` end to end on the tiny model, and their one-line errors."""
from __future__ import annotations

import json

import pytest
import yaml

from trt_panoptic.cli.main import main
from trt_panoptic.evaluation import pq_compute


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data, tiny_config):
    """A tiny model trained for 2 iterations by the CLI (config written as YAML, --max-iter overriding it)."""
    root = tmp_path_factory.mktemp("cli")
    cfg_path = root / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_config(tiny_data, max_iter=50).to_dict()))
    assert main(["train", "--config", str(cfg_path), "--out", str(root / "run"), "--max-iter", "2", "--threads", "1"]) == 0
    return cfg_path, root / "run"


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_train_writes_the_run_and_honours_max_iter(trained):
    _, run = trained
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log if "loss" in r] == [1, 2]
    assert (run / "model_final.pt").is_file() and (run / "last_checkpoint").read_text().strip() == "model_0000002.pt"


def test_train_refuses_a_non_empty_out(trained, capsys):
    cfg_path, run = trained
    assert main(["train", "--config", str(cfg_path), "--out", str(run)]) == 2
    assert "--resume" in one_line_error(capsys)
    assert main(["train", "--config", str(cfg_path), "--out", str(run), "--resume", "--force"]) == 2
    assert "should not be combined" in one_line_error(capsys)


def test_train_with_a_missing_config_is_one_line(tmp_path, capsys):
    assert main(["train", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.yaml" in one_line_error(capsys)


def test_eval_writes_metrics_and_predictions_that_rescore_the_same(trained, tiny_data, tmp_path):
    _, run = trained
    out = tmp_path / "metrics.json"
    assert main(["eval", "--data", str(tiny_data), "--weights", str(run / "model_final.pt"), "--json", str(out),
                 "--no-progress"]) == 0
    m = json.loads(out.read_text())
    for key in ("PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU"):
        assert 0.0 <= m[key] <= 100.0
    # the default backend on a CPU: ONNX Runtime, at the size training recorded (the 64x64 images')
    assert m["num_images"] == 8 and m["backend"] == "onnxruntime" and m["input_size"] == "64x64"
    assert set(m["per_class"]) == {"disc", "box", "triangle", "sky", "road", "grass", "wall"}
    pred = tmp_path / "metrics_predictions"
    again = pq_compute(tiny_data / "panoptic.json", pred / "panoptic.json", tiny_data / "panoptic", pred / "panoptic")
    assert 100.0 * again["All"]["pq"] == pytest.approx(m["PQ"], abs=1e-9)


@pytest.mark.parametrize("case", ["missing data", "not json", "pred-out exists"])
def test_eval_bad_input_is_one_line(case, tmp_path, tiny_data, capsys):
    data, out = str(tiny_data), str(tmp_path / "m.json")
    if case == "missing data":
        data = str(tmp_path / "absent")
    elif case == "not json":
        out = str(tmp_path / "m.txt")
    else:
        (tmp_path / "m_predictions").mkdir()
        (tmp_path / "m_predictions" / "x").write_text("x")
    assert main(["eval", "--data", data, "--json", out, "--weights", str(tmp_path / "none.pt")]) == 2
    line = one_line_error(capsys)
    assert {"missing data": "absent", "not json": ".json", "pred-out exists": "--force"}[case] in line


def test_train_checks_the_validation_data_before_training(trained, tmp_path, capsys):
    cfg_path, _ = trained
    args = ["train", "--config", str(cfg_path), "--out", str(tmp_path / "o"), "--val-data", str(tmp_path / "no_val")]
    assert main(args) == 2
    assert "data.val" in one_line_error(capsys)
    assert not (tmp_path / "o" / "model_final.pt").exists()


def test_resume_below_the_checkpoint_iteration_is_refused(trained, capsys):
    cfg_path, run = trained  # trained to iteration 2
    assert main(["train", "--config", str(cfg_path), "--out", str(run), "--resume", "--max-iter", "1"]) == 2
    assert "at least the checkpoint's iteration 2" in one_line_error(capsys)
