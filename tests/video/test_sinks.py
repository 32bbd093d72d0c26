"""Sinks: output-string parsing, codec choice, atomic video files, COCO panoptic PNG + JSON."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.video.sinks import (
    CocoPanopticSink,
    ImageFolderSink,
    NullSink,
    StreamInfo,
    VideoFileSink,
    WindowSink,
    choose_codec,
    codec_available,
    open_sink,
)

from .conftest import FakePredictor, read_all, synth_frame


def test_open_sink_parses_each_kind(tmp_path: Path) -> None:
    assert isinstance(open_sink("none"), NullSink)
    assert isinstance(open_sink(str(tmp_path / "a.mp4")), VideoFileSink)
    assert isinstance(open_sink(str(tmp_path / "a.avi")), VideoFileSink)
    assert isinstance(open_sink(str(tmp_path / "frames") + "/"), ImageFolderSink)
    assert isinstance(open_sink(f"coco:{tmp_path / 'pred'}"), CocoPanopticSink)
    with pytest.raises(TrtPanopticError, match="output should be"):
        open_sink(str(tmp_path / "a.gif"))


def test_window_without_display_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(TrtPanopticError, match="display"):
        WindowSink()


def test_codec_follows_the_container() -> None:
    assert choose_codec(".avi") == "MJPG"
    assert choose_codec(".mp4") == ("avc1" if codec_available("avc1", ".mp4") else "mp4v")
    assert choose_codec(".mp4", "mp4v") == "mp4v"
    with pytest.raises(TrtPanopticError, match="FourCC"):
        choose_codec(".mp4", "h264x")


def test_video_sink_renames_on_close_and_resizes_odd_frames(tmp_path: Path) -> None:
    out = tmp_path / "v.avi"
    sink = VideoFileSink(out)
    sink.start(StreamInfo(fps=12.0))
    result = FakePredictor().predict(synth_frame(0))
    for i in range(3):
        sink.write(i, str(i), synth_frame(i), synth_frame(i), result)
    big = cv2.resize(synth_frame(3), (200, 160))
    sink.write(3, "3", big, big, result)  # image folders may change size: resized to the first frame's
    assert not out.exists() and (tmp_path / "v.partial.avi").exists()
    sink.close()
    frames = read_all(out)
    assert len(frames) == 4 and frames[-1].shape == (128, 128, 3)
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert not (tmp_path / "v.partial.avi").exists()


def test_coco_sink_writes_png_ids_and_json(tmp_path: Path) -> None:
    predictor = FakePredictor()
    sink = CocoPanopticSink(tmp_path / "pred")
    sink.start(StreamInfo(25.0, predictor.thing_classes, predictor.stuff_classes))
    frame = synth_frame(3)
    result = predictor.predict(frame)
    sink.write(0, "frame_a", frame, frame, result)
    sink.close()
    rgb = cv2.imread(str(tmp_path / "pred" / "panoptic" / "frame_a.png"), cv2.IMREAD_COLOR)[..., ::-1].astype(np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    assert np.array_equal(ids, result.panoptic)
    data = json.loads((tmp_path / "pred" / "panoptic.json").read_text())
    cats = {c["id"]: c["name"] for c in data["categories"]}
    assert cats == {1: "disc", 2: "box", 3: "triangle", 4: "sky", 5: "road", 6: "grass", 7: "wall"}
    segs = {s["id"]: s for s in data["annotations"][0]["segments_info"]}
    assert cats[segs[1]["category_id"]] == "disc" and cats[segs[2]["category_id"]] == "sky"
    assert cats[segs[3]["category_id"]] == "road"
    assert segs[2]["area"] == int((result.panoptic == 2).sum())
    ys, xs = np.nonzero(result.panoptic == 1)
    assert segs[1]["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]


def test_coco_sink_uses_the_models_dataset_category_ids(tmp_path: Path) -> None:
    predictor = FakePredictor()
    sink = CocoPanopticSink(tmp_path / "pred")
    # e.g. a COCO model: thing ids with gaps, stuff ids from 92 on.
    sink.start(StreamInfo(25.0, predictor.thing_classes, predictor.stuff_classes,
                          thing_ids=[1, 3, 7], stuff_ids=[92, 95, 100, 101]))
    frame = synth_frame(3)
    sink.write(0, "frame_a", frame, frame, predictor.predict(frame))
    sink.close()
    data = json.loads((tmp_path / "pred" / "panoptic.json").read_text())
    assert {c["id"]: c["name"] for c in data["categories"]} == {
        1: "disc", 3: "box", 7: "triangle", 92: "sky", 95: "road", 100: "grass", 101: "wall"}
    segs = {s["id"]: s["category_id"] for s in data["annotations"][0]["segments_info"]}
    assert (segs[1], segs[2], segs[3]) == (1, 92, 95)  # disc, sky, road as in the test above


def test_image_folder_sink_numbers_frames(tmp_path: Path) -> None:
    sink = ImageFolderSink(tmp_path / "imgs", ext=".png")
    result = FakePredictor().predict(synth_frame(0))
    for i in range(2):
        sink.write(i, "x", synth_frame(i), synth_frame(i), result)
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir()) == ["000000.png", "000001.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "imgs" / "000001.png")), synth_frame(1))


def test_window_shows_frames_on_the_calling_thread_and_q_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """GUI calls happen on the thread running Pipeline.run (the main thread), never on the render thread;
    the q key ends the run. The window itself is faked: this machine has no display."""
    import threading

    from trt_panoptic.video.pipeline import Pipeline
    from trt_panoptic.video.sources import open_source

    from .conftest import write_clip

    shown_on: list[str] = []
    keys = iter([-1, -1, -1] + [ord("q")] * 1000)
    monkeypatch.setattr(cv2, "imshow", lambda title, img: shown_on.append(threading.current_thread().name))
    monkeypatch.setattr(cv2, "waitKey", lambda ms: next(keys))
    monkeypatch.setattr(cv2, "destroyWindow", lambda title: None)
    window = WindowSink.__new__(WindowSink)  # skip the display check
    window.title, window.description, window._stop, window._latest = "t", "window", False, None
    window._lock = threading.Lock()

    clip = write_clip(tmp_path / "long.avi", frames=45)
    stats = Pipeline(open_source(str(clip)), FakePredictor(delay_s=0.02), [window]).run()
    assert shown_on and set(shown_on) == {threading.current_thread().name}
    assert stats.stopped_by == "user" and stats.frames_written < 45


def test_folder_outputs_refuse_a_folder_holding_an_earlier_run(tmp_path):
    from trt_panoptic.video.sinks import open_sink

    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "000000.jpg").write_bytes(b"old")
    with pytest.raises(TrtPanopticError, match="new or empty folder"):
        open_sink(str(tmp_path / "frames") + "/")
    (tmp_path / "coco").mkdir()
    (tmp_path / "coco" / "panoptic.json").write_text("{}")
    with pytest.raises(TrtPanopticError, match="new or empty folder"):
        open_sink(f"coco:{tmp_path / 'coco'}")
