"""``trt-panoptic predict``: the bundled model on an image, and its device errors."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from export.tiny_model import scene

from trt_panoptic.cli.main import main
from trt_panoptic.data.coco_panoptic import read_panoptic_png


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "street.png"
    path.parent.mkdir()
    cv2.imwrite(str(path), scene(3, 128, 160))
    return path


def test_predict_writes_png_json_and_overlay(image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["predict", "--input", str(image.parent), "--output", str(out), "--device", "cpu"]) == 0
    ids = read_panoptic_png(out / "street.png")
    assert ids.shape == (128, 160)
    assert cv2.imread(str(out / "street_overlay.jpg")) is not None
    info = json.loads((out / "street.json").read_text())
    assert info["file_name"] == "street.png" and info["segments_info"], "the bundled model should find segments"
    # the JSON describes the PNG: one entry per segment id drawn, with its pixel count and bounding box
    drawn = {int(i) for i in np.unique(ids) if i != 0}
    assert {seg["id"] for seg in info["segments_info"]} == drawn
    for seg in info["segments_info"]:
        ys, xs = np.nonzero(ids == seg["id"])
        assert seg["area"] == len(xs)
        assert seg["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible: --device cuda is valid here")
def test_predict_on_a_missing_gpu_is_one_line_error(image: Path, tmp_path: Path, capsys) -> None:
    assert main(["predict", "--input", str(image), "--output", str(tmp_path / "out"), "--device", "cuda"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "--device cuda should name a visible GPU" in err[0]
    assert not (tmp_path / "out").exists(), "nothing should be written before the device is known to work"
