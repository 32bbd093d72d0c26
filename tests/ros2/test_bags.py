"""Bag files: which files make a bag, truncated files, the synthetic bag read back with the reference reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mcap_ros2", reason="needs the robotics extra: pip install -e '.[robotics]'")

from trt_panoptic.data.synthetic_video import render_video_frames  # noqa: E402
from trt_panoptic.errors import TrtPanopticError  # noqa: E402
from trt_panoptic.ros2 import bags  # noqa: E402
from trt_panoptic.ros2.synthetic_bag import LOG_DELAY_NS, write_synthetic_bag  # noqa: E402

from .bag_helpers import decode_frame, read_bag, stamp_ns, summary_counts  # noqa: E402


def test_synthetic_bag_holds_the_clip_with_stamps_at_its_frame_rate(tmp_path: Path) -> None:
    out = write_synthetic_bag(tmp_path / "cam.mcap", 4, (48, 64), seed=3, fps=20.0, start_ns=5 * 10**9,
                              cameras=[("/png", "png"), ("/raw", "rgb8")], progress=False)
    assert summary_counts(out) == {"/png": ("sensor_msgs/msg/CompressedImage", 4),
                                   "/raw": ("sensor_msgs/msg/Image", 4)}
    msgs = read_bag(out)
    clip = [frame for frame, _, _ in render_video_frames(4, (48, 64), 3)]
    for topic in ("/png", "/raw"):
        for i, (schema, record, decoded) in enumerate(msgs[topic]):
            assert stamp_ns(decoded.header) == 5 * 10**9 + i * 50_000_000
            assert record.log_time == stamp_ns(decoded.header) + LOG_DELAY_NS
            assert np.array_equal(decode_frame(schema.name, decoded), clip[i])  # png and rgb8 are lossless


def test_existing_bag_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "cam.mcap"
    out.write_bytes(b"keep me")
    with pytest.raises(TrtPanopticError, match="--force"):
        write_synthetic_bag(out, 2, (32, 32), progress=False)
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize("keep", [0.97, 0.5, 0.01])
def test_truncated_bag_is_one_line_error_naming_the_repair(tmp_path: Path, keep: float) -> None:
    whole = write_synthetic_bag(tmp_path / "whole.mcap", 6, (48, 48), progress=False).read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(whole[: int(len(whole) * keep)])
    with pytest.raises(TrtPanopticError, match="mcap recover") as err:
        bags.read_summary(cut)
    assert "\n" not in str(err.value) and "cut.mcap" in str(err.value)


def test_folder_bag_files_follow_metadata_order(tmp_path: Path) -> None:
    folder = tmp_path / "rosbag2_2026"
    folder.mkdir()
    for name in ("b_0.mcap", "a_1.mcap"):
        (folder / name).write_bytes(b"")
    assert bags.bag_files(folder) == [folder / "a_1.mcap", folder / "b_0.mcap"]  # by name without metadata
    (folder / "metadata.yaml").write_text(
        "rosbag2_bagfile_information:\n  relative_file_paths:\n    - b_0.mcap\n    - a_1.mcap\n")
    assert bags.bag_files(folder) == [folder / "b_0.mcap", folder / "a_1.mcap"]
    assert bags.is_bag(folder)
    images = tmp_path / "images"
    images.mkdir()
    (images / "x.png").write_bytes(b"")
    assert not bags.is_bag(images)


def test_a_bag_that_cannot_be_finished_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    # a full disk while writing the summary: the error reaches the caller, the temp file does not stay behind
    writer = bags.BagWriter(tmp_path / "out.mcap", "test")

    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer._writer, "finish", full_disk)
    with pytest.raises(OSError):
        writer.finish()
    writer.abandon()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_truncated_jpeg_in_a_compressed_message_is_skipped(caplog) -> None:
    import types

    import cv2

    from trt_panoptic.ros2.images import compressed_to_bgr

    jpeg = cv2.imencode(".jpg", np.full((32, 48, 3), 90, np.uint8))[1].tobytes()
    assert compressed_to_bgr(types.SimpleNamespace(format="jpeg", data=jpeg)).shape == (32, 48, 3)
    assert compressed_to_bgr(types.SimpleNamespace(format="jpeg", data=jpeg[: len(jpeg) // 2])) is None
    assert compressed_to_bgr(types.SimpleNamespace(format="jpeg", data=jpeg), max_pixels=100) is None
    assert "truncated JPEG" in caplog.text and "above 100" in caplog.text
