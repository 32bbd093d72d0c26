"""No command overwrites, deletes or mixes with its own inputs (issue: "Reliability", data lost).

Each case ran to exit 0 and destroyed data before: predict --output = --input overwrote every input image;
eval --json DATA/panoptic.json overwrote the ground truth; eval --pred-out DATA --force deleted the dataset.
Each now ends in one line, exit 2, with every input byte unchanged (checksums).
"""
import pytest

from trt_panoptic.cli.main import main
from trt_panoptic.data.synthetic import generate_synthetic_dataset

from .conftest import checksums


@pytest.fixture()
def dataset(tmp_path):
    return generate_synthetic_dataset(tmp_path / "data", 2, seed=5, size=(64, 64), progress=False)


def one_line_error(capsys, rc) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err and "Traceback" not in err, err
    return err


def test_predict_never_writes_into_its_input_folder(dataset, capsys):
    images = dataset / "images"
    before = checksums(dataset)
    err = one_line_error(capsys, main(["predict", "--input", str(images), "--output", str(images)]))
    assert "--output" in err and "overwrite its own input" in err
    assert checksums(dataset) == before


def test_eval_never_writes_metrics_over_the_ground_truth(dataset, capsys):
    before = checksums(dataset)
    rc = main(["eval", "--data", str(dataset), "--json", str(dataset / "panoptic.json"), "--backend", "torch",
               "--no-progress"])
    err = one_line_error(capsys, rc)
    assert "--json" in err
    assert checksums(dataset) == before


@pytest.mark.parametrize("where", [".", ".."])
def test_eval_force_never_deletes_the_dataset(dataset, tmp_path, capsys, where):
    before = checksums(dataset)
    pred_out = (dataset / where).resolve()
    rc = main(["eval", "--data", str(dataset), "--json", str(tmp_path / "m.json"), "--pred-out", str(pred_out),
               "--force", "--backend", "torch", "--no-progress"])
    err = one_line_error(capsys, rc)
    assert "--pred-out" in err
    assert checksums(dataset) == before


def test_an_output_inside_an_input_folder_is_fine(dataset, tmp_path):
    # --output imgs/preds writes next to the inputs without touching them
    before = checksums(dataset / "images")
    assert main(["predict", "--input", str(dataset / "images"), "--output", str(dataset / "images" / "preds")]) == 0
    after = checksums(dataset / "images")
    assert {k: v for k, v in after.items() if not k.startswith("preds/")} == before
