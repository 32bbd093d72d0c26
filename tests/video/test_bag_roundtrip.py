"""Synthetic bag → ``trt-panoptic run`` → result bag, read back with mcap + mcap-ros2-support's decoder and
compared with the same ONNX Runtime predictor run on the input frames decoded independently."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mcap_ros2", reason="needs the robotics extra: pip install -e '.[robotics]'")

from ros2.bag_helpers import decode_frame, id_map, read_bag, stamp_ns, summary_counts  # noqa: E402

from trt_panoptic.cli.main import main  # noqa: E402
from trt_panoptic.ros2.synthetic_bag import write_synthetic_bag  # noqa: E402

from .conftest import FakePredictor  # noqa: E402
from .test_cli_run import _assert_one_line_error  # noqa: E402

SIZE = (72, 96)
FRAMES = 4


@pytest.fixture(scope="module")
def ort_predictor():
    """The bundled model on ONNX Runtime, as ``run --backend onnxruntime`` creates it (exported once per module)."""
    from trt_panoptic.runtime import create_predictor

    return create_predictor("onnxruntime")


@pytest.fixture
def real_backend(monkeypatch: pytest.MonkeyPatch, ort_predictor):
    """In-process CLI runs get the module's ONNX Runtime predictor (no second export)."""
    import trt_panoptic.runtime

    monkeypatch.setattr(trt_panoptic.runtime, "create_predictor", lambda backend="auto", **_: ort_predictor)
    return ort_predictor


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(["run", *args, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("encoding", ["jpeg", "rgb8"])
def test_result_bag_matches_the_predictor_frame_by_frame(tmp_path: Path, encoding: str, real_backend,
                                                         capsys: pytest.CaptureFixture) -> None:
    bag = write_synthetic_bag(tmp_path / "in.mcap", FRAMES, SIZE, seed=4, cameras=[("/cam", encoding)], progress=False)
    out = tmp_path / "results.mcap"
    code, stdout, err = _run(capsys, "--source", str(bag), "--output", str(out))
    assert code == 0, err
    assert str(out.resolve()) in stdout and "trt_panoptic_msgs/msg/Segments" in stdout

    assert summary_counts(out) == {
        "/trt_panoptic/overlay": ("sensor_msgs/msg/CompressedImage", FRAMES),
        "/trt_panoptic/panoptic": ("sensor_msgs/msg/Image", FRAMES),
        "/trt_panoptic/segments": ("trt_panoptic_msgs/msg/Segments", FRAMES),
        "/trt_panoptic/stats": ("trt_panoptic_msgs/msg/FrameStats", FRAMES),
        "/trt_panoptic/categories": ("trt_panoptic_msgs/msg/Categories", 1),
    }
    inputs, results = read_bag(bag)["/cam"], read_bag(out)
    (_, _, categories), = results["/trt_panoptic/categories"]
    names = {c.id: (c.name, c.isthing) for c in categories.categories}
    assert sorted(names) == sorted([*real_backend.thing_ids, *real_backend.stuff_ids])
    for k, (schema, record, msg) in enumerate(inputs):
        frame = decode_frame(schema.name, msg)
        expected = real_backend.predict(frame)
        for topic in ("overlay", "panoptic", "segments", "stats"):
            _, rec, res = results[f"/trt_panoptic/{topic}"][k]
            assert stamp_ns(res.header) == stamp_ns(msg.header) and res.header.frame_id == msg.header.frame_id
            assert rec.log_time == record.log_time
        _, _, pan = results["/trt_panoptic/panoptic"][k]
        assert pan.encoding == "16UC1" and (pan.height, pan.width) == SIZE
        ids = id_map(pan)
        assert np.array_equal(ids, expected.panoptic)
        _, _, overlay = results["/trt_panoptic/overlay"][k]
        assert "jpeg" in overlay.format and decode_frame("CompressedImage", overlay).shape == (*SIZE, 3)
        _, _, segs = results["/trt_panoptic/segments"][k]
        by_id = {s["id"]: s for s in expected.segments_info}
        assert [s.id for s in segs.segments] == sorted(by_id) == sorted(set(np.unique(ids)) - {0})
        for seg in segs.segments:
            ys, xs = np.nonzero(ids == seg.id)
            assert seg.area == len(xs)
            assert (seg.x0, seg.y0, seg.x1, seg.y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert names[seg.category_id] == (seg.category_name, seg.isthing) and seg.isthing == by_id[seg.id]["isthing"]
            if seg.isthing:
                assert seg.score == pytest.approx(by_id[seg.id]["score"], abs=1e-6)
            else:
                assert math.isnan(seg.score)
        _, _, stats = results["/trt_panoptic/stats"][k]
        assert stats.frame_index == k and stats.backend == "onnxruntime" and stats.infer_ms > 0


def test_passthrough_copies_every_input_message_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import trt_panoptic.runtime

    monkeypatch.setattr(trt_panoptic.runtime, "create_predictor", lambda backend="auto", **_: FakePredictor())
    bag = write_synthetic_bag(tmp_path / "in.mcap", 5, (32, 48), cameras=[("/left", "jpeg"), ("/right", "mono8")],
                              progress=False)
    out = tmp_path / "out.mcap"
    code, stdout, err = _run(capsys, "--source", str(bag), "--topic", "/right", "--output", str(out),
                             "--passthrough", "--max-frames", "3")
    assert code == 0, err
    original, result = read_bag(bag), read_bag(out)
    for topic in ("/left", "/right"):
        assert [(r.log_time, r.publish_time, r.data) for _, r, _ in result[topic]] == \
               [(r.log_time, r.publish_time, r.data) for _, r, _ in original[topic]]
        assert result[topic][0][0].data == original[topic][0][0].data  # the schema text too
    assert len(result["/trt_panoptic/panoptic"]) == 3
    assert "10 input messages copied" in stdout


def test_bad_bag_runs_end_in_one_line_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bag = write_synthetic_bag(tmp_path / "in.mcap", 3, (32, 32), progress=False)
    data = bag.read_bytes()
    out = tmp_path / "out.mcap"
    cases = {
        "should differ from --source": ["--source", str(bag), "--output", str(bag)],
        "--passthrough should come with a .mcap --output": ["--source", str(bag), "--passthrough"],
        "mcap recover": ["--source", str(tmp_path / "cut.mcap"), "--output", str(out)],
    }
    (tmp_path / "cut.mcap").write_bytes(data[: len(data) * 3 // 4])
    for words, args in cases.items():
        code, _, err = _run(capsys, *args)
        _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), words)
    folder = tmp_path / "rosbag2_x"
    folder.mkdir()
    (folder / "in_0.mcap").write_bytes(data)
    code, _, err = _run(capsys, "--source", str(folder), "--output", str(folder / "results.mcap"))
    _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), "source bag folder")
    code, _, err = _run(capsys, "--source", str(tmp_path / "clip.avi"), "--output", str(out), "--passthrough")
    assert code == 2
    assert bag.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mcap", "in.mcap", "rosbag2_x"]
    assert [p.name for p in folder.iterdir()] == ["in_0.mcap"]


@pytest.mark.parametrize("blocked", ["mcap", "mcap_ros2", "foxglove"])
def test_missing_extra_is_one_line_naming_it(tmp_path: Path, clip: Path, blocked: str) -> None:
    """A Python without one of the robotics packages (its import blocked) gets one line naming the extra,
    for a bag source, a bag output and a Foxglove output alike."""
    bag = write_synthetic_bag(tmp_path / "in.mcap", 2, (32, 32), progress=False)
    code = (f"import sys; sys.modules[{blocked!r}] = None; "
            "from trt_panoptic.cli.main import main; sys.exit(main(sys.argv[1:]))")
    runs = {"mcap": [["--source", str(bag)], ["--source", str(clip), "--output", str(tmp_path / "y.mcap")]],
            "mcap_ros2": [["--source", str(bag)]],
            "foxglove": [["--source", str(clip), "--output", "foxglove:0"]]}[blocked]
    for args in runs:
        proc = subprocess.run([sys.executable, "-c", code, "run", *args], capture_output=True, text=True, timeout=60)
        _assert_one_line_error(proc, "robotics extra", "pip install -e '.[robotics]'")
    assert not (tmp_path / "y.mcap").exists()
