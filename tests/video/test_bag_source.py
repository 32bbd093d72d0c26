"""A ROS 2 bag as a frame source: topic choice, encodings, stamps, split bags, damaged and empty bags."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mcap_ros2", reason="needs the robotics extra: pip install -e '.[robotics]'")

from mcap.writer import Writer as McapWriter  # noqa: E402
from mcap_ros2.writer import Writer  # noqa: E402
from ros2.bag_helpers import decode_frame, image_definition, read_bag, stamp_ns, write_raw_bag  # noqa: E402

from trt_panoptic.errors import TrtPanopticError  # noqa: E402
from trt_panoptic.ros2.synthetic_bag import write_synthetic_bag  # noqa: E402
from trt_panoptic.video.sources import ReadStatus, open_source  # noqa: E402


def _frames(source) -> list:
    reads = []
    while (r := source.read()).status is not ReadStatus.END:
        reads.append(r)
    source.close()
    return reads


@pytest.mark.parametrize("encoding", ["jpeg", "rgb8", "mono8"])
def test_frames_and_stamps_equal_the_messages(tmp_path: Path, encoding: str) -> None:
    bag = write_synthetic_bag(tmp_path / "cam.mcap", 5, (40, 56), seed=2, cameras=[("/cam", encoding)], progress=False)
    source = open_source(str(bag))
    assert (source.topic, source.num_frames, source.is_live) == ("/cam", 5, False)
    assert source.fps == pytest.approx(30.0, rel=1e-3)
    reads = _frames(source)
    expected = read_bag(bag)["/cam"]
    assert len(reads) == len(expected) == 5
    for read, (schema, record, msg) in zip(reads, expected):
        assert read.status is ReadStatus.FRAME
        assert np.array_equal(read.image, decode_frame(schema.name, msg))
        assert (read.stamp.stamp_ns, read.stamp.log_time_ns) == (stamp_ns(msg.header), record.log_time)
        assert read.stamp.frame_id == msg.header.frame_id


def test_two_image_topics_need_topic(tmp_path: Path) -> None:
    bag = write_synthetic_bag(tmp_path / "two.mcap", 3, (32, 32), cameras=[("/left", "jpeg"), ("/right", "rgb8")],
                              progress=False)
    with pytest.raises(TrtPanopticError) as err:
        open_source(str(bag))
    message = str(err.value)
    assert "--topic" in message and "\n" not in message
    assert "/left (3 × sensor_msgs/msg/CompressedImage)" in message and "/right (3 × sensor_msgs/msg/Image)" in message
    right = open_source(str(bag), topic="/right")
    assert right.topic == "/right" and len(_frames(right)) == 3
    with pytest.raises(TrtPanopticError, match="'/nope' \\(not in the bag\\).*/left"):
        open_source(str(bag), topic="/nope")


def test_topic_on_a_video_is_refused(clip: Path) -> None:
    with pytest.raises(TrtPanopticError, match="--topic should come with a ROS 2 bag"):
        open_source(str(clip), topic="/cam")


def test_bag_without_images_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mcap"
    with open(empty, "wb") as f:
        Writer(f).finish()
    with pytest.raises(TrtPanopticError, match="no topics at all"):
        open_source(str(empty))
    # a camera topic registered but never written to (the recording stopped before the first frame)
    image_def, _ = image_definition()
    silent = tmp_path / "silent.mcap"
    with open(silent, "wb") as f:
        writer = McapWriter(f)
        writer.start(profile="ros2")
        schema_id = writer.register_schema(name="sensor_msgs/msg/Image", encoding="ros2msg", data=image_def.encode())
        writer.register_channel(topic="/cam", message_encoding="cdr", schema_id=schema_id)  # and no message
        writer.finish()
    with pytest.raises(TrtPanopticError, match="none on /cam"):
        open_source(str(silent))


def test_unsupported_encoding_fails_before_any_frame(tmp_path: Path) -> None:
    depth = write_raw_bag(tmp_path / "depth.mcap", "/depth", "16UC1", [np.zeros((4, 8), np.uint8)] * 2)
    with pytest.raises(TrtPanopticError, match="got '16UC1'"):
        open_source(str(depth))


def test_padded_rows_and_a_broken_jpeg(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (6, 10, 3), dtype=np.uint8) for _ in range(3)]
    padded = write_raw_bag(tmp_path / "pad.mcap", "/cam", "bgr8", frames, step_pad=6)
    assert [np.array_equal(r.image, f) for r, f in zip(_frames(open_source(str(padded))), frames)] == [True] * 3

    _, compressed_def = image_definition()
    broken = tmp_path / "broken.mcap"
    good = write_synthetic_bag(tmp_path / "good.mcap", 2, (32, 32), progress=False)
    good_msgs = read_bag(good)["/camera/image_raw/compressed"]
    with open(broken, "wb") as f:
        writer = Writer(f)
        schema = writer.register_msgdef("sensor_msgs/msg/CompressedImage", compressed_def)
        data = [bytes(good_msgs[0][2].data), b"\xff\xd8 truncated jpeg", bytes(good_msgs[1][2].data)]
        for i, payload in enumerate(data):
            writer.write_message("/cam", schema, {"header": {"stamp": {"sec": i, "nanosec": 0}, "frame_id": "c"},
                                                  "format": "jpeg", "data": payload}, log_time=i * 10**9)
        writer.finish()
    statuses = [r.status for r in _frames(open_source(str(broken)))]
    assert statuses == [ReadStatus.FRAME, ReadStatus.CORRUPT, ReadStatus.FRAME]


def test_split_rosbag2_folder_reads_every_file_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "rosbag2_run"
    folder.mkdir()
    first = write_synthetic_bag(folder / "run_0.mcap", 3, (32, 32), seed=1, start_ns=10**12, progress=False)
    write_synthetic_bag(folder / "run_1.mcap", 2, (32, 32), seed=1, start_ns=10**12 + 10**8, progress=False)
    source = open_source(str(folder))
    assert source.files == [first, folder / "run_1.mcap"] and source.num_frames == 5
    stamps = [r.stamp.stamp_ns for r in _frames(source)]
    assert stamps == sorted(stamps) and len(stamps) == 5


def test_realtime_replays_at_the_recorded_rate(tmp_path: Path) -> None:
    bag = write_synthetic_bag(tmp_path / "cam.mcap", 6, (32, 32), fps=25.0, progress=False)
    source = open_source(str(bag), pace_files=True)
    assert source.is_live
    t0 = time.perf_counter()
    assert len(_frames(source)) == 6
    assert time.perf_counter() - t0 >= 5 * 0.04 * 0.9  # five gaps of 40 ms between six frames
