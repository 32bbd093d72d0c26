"""``trt-panoptic demo``: one command leaves a clip, an annotated video and stats, never overwriting a run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from trt_panoptic.cli.demo import choose_run_dir
from trt_panoptic.errors import TrtPanopticError

from trt_panoptic.cli.main import main

from .conftest import read_all


def test_demo_writes_annotated_video_and_stats(tmp_path: Path, fake_backend: None,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out-dir", str(out), "--frames", "8", "--size", "64x96", "--no-progress"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    frames = read_all(out / "demo.mp4")
    assert len(frames) == 8 and frames[0].shape == (64, 96, 3)
    assert len(read_all(out / "input.mp4")) == 8
    stats = json.loads((out / "stats.json").read_text())
    assert stats["frames_written"] == 8 and stats["mode"] == "lossless"
    assert str((out / "demo.mp4").resolve()) in stdout and "FPS" in stdout


def test_run_dir_is_never_reused_silently(tmp_path: Path) -> None:
    base = tmp_path / "trt_panoptic_demo"
    assert choose_run_dir(base, force=False) == base  # missing
    base.mkdir()
    assert choose_run_dir(base, force=False) == base  # empty
    (base / "demo.mp4").write_bytes(b"old run")
    assert choose_run_dir(base, force=False) == tmp_path / "trt_panoptic_demo-2"
    (tmp_path / "trt_panoptic_demo-2").mkdir()
    (tmp_path / "trt_panoptic_demo-2" / "stats.json").write_text("{}")
    assert choose_run_dir(base, force=False) == tmp_path / "trt_panoptic_demo-3"
    assert choose_run_dir(base, force=True) == base
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrtPanopticError, match="should be a folder"):
        choose_run_dir(blocker, force=False)


def test_a_missing_gpu_fails_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here: --device cuda is valid")
    out = tmp_path / "demo"
    assert main(["demo", "--out-dir", str(out), "--device", "cuda", "--no-progress"]) == 2
    assert "should name a visible GPU" in capsys.readouterr().err and not out.exists()


def test_demo_bag_runs_the_robotics_loop(tmp_path: Path, fake_backend: None, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("mcap_ros2", reason="needs the robotics extra: pip install -e '.[robotics]'")
    from ros2.bag_helpers import summary_counts

    out = tmp_path / "demo"
    code = main(["demo", "--bag", "--out-dir", str(out), "--frames", "5", "--size", "48x64", "--no-progress"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert summary_counts(out / "input.mcap") == {"/camera/image_raw/compressed": ("sensor_msgs/msg/CompressedImage", 5)}
    result = summary_counts(out / "result.mcap")
    assert result["/camera/image_raw/compressed"] == ("sensor_msgs/msg/CompressedImage", 5)  # passed through
    assert result["/trt_panoptic/segments"] == ("trt_panoptic_msgs/msg/Segments", 5)
    assert len(read_all(out / "demo.mp4")) == 5
    assert str((out / "result.mcap").resolve()) in stdout and "foxglove" in stdout


def test_data_synth_bag_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("mcap_ros2", reason="needs the robotics extra: pip install -e '.[robotics]'")
    from ros2.bag_helpers import summary_counts

    out = tmp_path / "cam.mcap"
    assert main(["data", "synth-bag", "--out", str(out), "--frames", "3", "--encoding", "bayer_rggb8",
                 "--size", "32x48"]) == 0
    assert summary_counts(out) == {"/camera/image_raw": ("sensor_msgs/msg/Image", 3)}
    assert main(["data", "synth-bag", "--out", str(out), "--frames", "3", "--encoding", "yuv422"]) == 2
    assert "--encoding should be one of" in capsys.readouterr().err
