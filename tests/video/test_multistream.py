"""Many streams, one model: per-stream outputs with every frame, batches across streams, failures that stay
in their stream, a shared window grid and a shared result bag."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from trt_panoptic.video.multistream import BatchCollector, MultiStreamConfig, MultiStreamPipeline, Stream
from trt_panoptic.video.pipeline import PipelineConfig
from trt_panoptic.video.sinks import FrameSink, StreamInfo, VideoFileSink
from trt_panoptic.video.sources import FrameSource, Read, ReadStatus, open_source
from trt_panoptic.video.tiles import Mosaic, grid

from .conftest import FakePredictor, index_of, read_all, synth_frame, write_clip
from .test_pipeline import RecordingSink


class BatchRecordingFake(FakePredictor):
    """A FakePredictor with the batch API: records the size of every batch it is given."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(delay_s)
        self.batches: list[int] = []

    def predict_batch(self, images):
        self.batches.append(len(images))
        return [self.predict(image) for image in images]


def _image_folder(path: Path, frames: int) -> Path:
    path.mkdir()
    for i in range(frames):
        cv2.imwrite(str(path / f"f{i:03d}.png"), synth_frame(i))
    return path


def _lossless(**kw) -> MultiStreamConfig:
    # render=False writes the decoded frames untouched, so each output's code blocks can be read back
    return MultiStreamConfig(stream=PipelineConfig(mode="lossless", render=False, **kw), batch_timeout_s=0.05)


def test_mixed_sources_give_every_frame_to_their_own_output_in_order(tmp_path: Path) -> None:
    a, b = write_clip(tmp_path / "a.avi", frames=12), write_clip(tmp_path / "b.avi", frames=7)
    folder = _image_folder(tmp_path / "folder", 9)
    outs = [tmp_path / f"out_{i}.avi" for i in range(3)]
    streams = [Stream(open_source(str(src)), [VideoFileSink(out)], name=str(i))
               for i, (src, out) in enumerate(zip((a, b, folder), outs))]
    predictor = BatchRecordingFake()
    stats = MultiStreamPipeline(streams, predictor, _lossless()).run()

    for out, n in zip(outs, (12, 7, 9)):
        assert [index_of(f) for f in read_all(out)] == list(range(n))  # frames in = frames out, in order
    assert [s.stats.frames_written for s in stats.streams] == [12, 7, 9]
    assert all(s.error is None and s.stats.stopped_by == "end_of_source" for s in stats.streams)
    # one model call per batch: up to one frame per stream; full while all three streams have frames
    assert sum(predictor.batches) == 28 and max(predictor.batches) == 3
    b_stats = stats.batch
    assert b_stats.batch_size == 3 and b_stats.frames == 28 and b_stats.batches == len(predictor.batches)
    assert b_stats.occupancy == pytest.approx(28 / (3 * b_stats.batches))
    assert b_stats.full >= 5  # at least while the shortest stream (7 frames) ran, batches were mostly full
    d = stats.to_dict()
    assert d["frames_written"] == 28 and d["num_streams"] == 3 and [s["name"] for s in d["streams"]] == ["0", "1", "2"]
    assert d["batch"]["occupancy"] == pytest.approx(b_stats.occupancy)
    assert not list(tmp_path.glob("*.partial*"))


class FailingSource(FrameSource):
    """A file-like source that raises after ``k`` frames (a disk or network error mid-run)."""

    description = "failing source"

    def __init__(self, k: int) -> None:
        self._k = k
        self._n = 0

    def read(self) -> Read:
        if self._n >= self._k:
            raise OSError("read error on the failing source")
        self._n += 1
        return Read(ReadStatus.FRAME, synth_frame(self._n - 1))


def test_a_failing_stream_leaves_the_others_running(tmp_path: Path) -> None:
    good = write_clip(tmp_path / "good.avi", frames=20)
    truncated = tmp_path / "truncated.avi"
    whole = write_clip(tmp_path / "whole.avi", frames=30).read_bytes()
    truncated.write_bytes(whole[: int(len(whole) * 0.5)])
    decodable = len(read_all(truncated))
    out_fail, out_good, out_trunc = (tmp_path / f"{n}.avi" for n in ("fail", "good", "trunc"))
    streams = [Stream(FailingSource(4), [VideoFileSink(out_fail)], "broken"),
               Stream(open_source(str(good)), [VideoFileSink(out_good)], "good"),
               Stream(open_source(str(truncated)), [VideoFileSink(out_trunc)], "cut")]
    stats = MultiStreamPipeline(streams, FakePredictor(), _lossless()).run()

    broken, ok, cut = stats.streams
    assert broken.error == "read error on the failing source" and broken.stats.stopped_by == "error"
    # as in a single-stream run, a stage error stops that stream: frames still waiting for the model are
    # dropped, those already inferred are written and the file is finalized with them
    assert broken.stats.frames_read == 4 and broken.stats.frames_written == len(read_all(out_fail)) <= 4
    assert ok.error is None and [index_of(f) for f in read_all(out_good)] == list(range(20))
    assert cut.error is None and cut.stats.frames_written == decodable == len(read_all(out_trunc))
    assert [s.name for s in stats.failed] == ["broken"]
    assert "failed: read error" in "\n".join(stats.stream_lines())


def test_a_model_error_fails_every_stream_but_closes_their_outputs(tmp_path: Path) -> None:
    class Exploding(FakePredictor):
        def predict(self, image):
            if len(self.seen) >= 6:
                raise RuntimeError("backend exploded")
            return super().predict(image)

    clips = [write_clip(tmp_path / f"c{i}.avi", frames=10) for i in range(2)]
    outs = [tmp_path / f"o{i}.avi" for i in range(2)]
    streams = [Stream(open_source(str(c)), [VideoFileSink(o)], str(i)) for i, (c, o) in enumerate(zip(clips, outs))]
    stats = MultiStreamPipeline(streams, Exploding(), _lossless()).run()
    assert all(s.error == "backend exploded" for s in stats.streams)
    assert [len(read_all(o)) for o in outs] == [s.stats.frames_written for s in stats.streams]
    assert sum(s.stats.frames_written for s in stats.streams) == 6


def test_stop_finalizes_every_output(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"c{i}.avi", frames=40) for i in range(2)]
    outs = [tmp_path / f"o{i}.avi" for i in range(2)]
    streams = [Stream(open_source(str(c)), [VideoFileSink(o)], str(i)) for i, (c, o) in enumerate(zip(clips, outs))]
    pipeline = MultiStreamPipeline(streams, FakePredictor(delay_s=0.01), _lossless())
    threading.Timer(0.2, pipeline.stop, args=("signal:SIGINT",)).start()
    stats = pipeline.run()
    assert stats.stopped_by == "signal:SIGINT"
    for report, out in zip(stats.streams, outs):
        assert 0 < report.stats.frames_written < 40 == report.stats.frames_written + 40 - len(read_all(out))
    assert not list(tmp_path.glob("*.partial*"))


def test_collector_waits_at_most_the_timeout_for_a_slow_stream() -> None:
    """Stream 1 never sends: each of stream 0's frames runs alone after the timeout, not forever."""
    predictor = BatchRecordingFake()
    collector = BatchCollector(predictor, 2, timeout_s=0.03)
    collector.start()
    t0 = time.perf_counter()
    for i in range(3):
        collector.submit(0, synth_frame(i))
    waited = time.perf_counter() - t0
    collector.close_stream(1)
    collector.submit(0, synth_frame(3))  # stream 1 closed: no more waiting
    collector.close_stream(0)
    collector.join(1.0)
    assert predictor.batches == [1, 1, 1, 1] and 0.09 <= waited < 1.0
    assert collector.stats.batch_size == 2 and collector.stats.occupancy == pytest.approx(0.5)
    assert collector.stats.collect.percentile_ms(100) < 1000 * 0.03 + 50  # the last one did not wait


def test_batch_size_follows_a_smaller_max_batch() -> None:
    class BatchOfTwo(BatchRecordingFake):
        max_batch = 2

    assert BatchCollector(BatchOfTwo(), 5).stats.batch_size == 2
    assert BatchCollector(BatchRecordingFake(), 5).stats.batch_size == 5  # no batch graph: one frame per stream


def test_hud_shows_the_stream_and_its_batches(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi", frames=3)
    pipeline = MultiStreamPipeline([Stream(open_source(str(clip)), [], "front")], FakePredictor(),
                                   MultiStreamConfig(stream=PipelineConfig(mode="lossless")))
    pipeline.run()
    lines = pipeline.pipelines[0]._hud_lines(0.01, 0.02)
    assert lines[-1] == "stream front  batch 1.0/1 (100 %)"


class KeepLast(FrameSink):
    """Keeps the last rendered image it got (the mosaic) and whether it was closed."""

    description = "keep-last"
    last: np.ndarray | None = None
    closed = False

    def write(self, index, name, image, rendered, result, **_) -> None:
        self.last = rendered

    def close(self) -> None:
        self.closed = True


def test_mosaic_places_each_stream_in_its_cell() -> None:
    assert [grid(n) for n in (1, 2, 3, 4, 5)] == [(1, 1), (1, 2), (2, 2), (2, 2), (2, 3)]
    inner = KeepLast()
    mosaic = Mosaic(inner, 3)
    tiles = [mosaic.tile(i) for i in range(3)]
    for t in tiles:
        t.start(StreamInfo(30.0))
    frames = [np.full((40, 60, 3), 50 * (i + 1), np.uint8) for i in range(3)]
    for i in (2, 0, 1):
        tiles[i].write(0, "x", frames[i], frames[i], FakePredictor().predict(frames[i]))
    canvas = inner.last
    assert canvas.shape == (80, 120, 3)
    assert canvas[0, 0, 0] == 50 and canvas[0, 60, 0] == 100 and canvas[40, 0, 0] == 150 and canvas[40, 60, 0] == 0
    for t in tiles:
        t.close()
    assert not inner.closed  # the mosaic's owner closes the shared sink once
    mosaic.close()
    assert inner.closed


def test_one_bag_holds_a_topic_set_per_stream(tmp_path: Path) -> None:
    from trt_panoptic.ros2.bags import read_summary, topics
    from trt_panoptic.video.bag_sink import BagSink

    clips = [write_clip(tmp_path / f"c{i}.avi", frames=n) for i, n in enumerate((5, 8))]
    bag = tmp_path / "results.mcap"
    sinks = BagSink.for_streams(bag, ["front", "rear"])
    streams = [Stream(open_source(str(c)), [s], name) for c, s, name in zip(clips, sinks, ("front", "rear"))]
    MultiStreamPipeline(streams, FakePredictor(), _lossless()).run()
    counts = {info.topic: info.count for info in topics(read_summary(bag))}
    for name, n in (("front", 5), ("rear", 8)):
        for topic in ("overlay", "panoptic", "segments", "stats"):
            assert counts[f"/{name}/trt_panoptic/{topic}"] == n
        assert counts[f"/{name}/trt_panoptic/categories"] == 1
    assert not list(tmp_path.glob("*.partial*"))


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_one_foxglove_server_serves_a_channel_set_per_stream() -> None:
    from trt_panoptic.video.foxglove_sink import FoxgloveSink

    front, rear = FoxgloveSink.for_streams("127.0.0.1", 0, ["front", "rear"])
    assert front.port == rear.port and _listening(front.port)
    kinds = ("image", "overlay", "annotations", "segments", "stats")
    assert front.topics == [f"/front/trt_panoptic/{k}" for k in kinds]
    assert rear.topics == [f"/rear/trt_panoptic/{k}" for k in kinds]
    front.close()
    time.sleep(0.3)  # a stop would have taken effect by now (it does below)
    assert _listening(rear.port)  # the other stream still publishes
    rear.close()
    deadline = time.monotonic() + 3.0  # the server stops its listener asynchronously
    while _listening(rear.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _listening(rear.port)


class ConcurrentFake(FakePredictor):
    """Thread-safe; each call sleeps, and the most calls seen running at once is recorded."""

    thread_safe = True

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s)
        self._running = 0
        self.most = 0
        self._lock = threading.Lock()

    def predict(self, image):
        with self._lock:
            self._running += 1
            self.most = max(self.most, self._running)
        try:
            return super().predict(image)
        finally:
            with self._lock:
                self._running -= 1


def test_inflight_runs_the_frames_of_a_batch_side_by_side(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"c{i}.avi", frames=6) for i in range(3)]
    recorders = [RecordingSink() for _ in clips]
    streams = [Stream(open_source(str(c)), [r], str(i)) for i, (c, r) in enumerate(zip(clips, recorders))]
    predictor = ConcurrentFake(delay_s=0.02)
    config = MultiStreamConfig(stream=PipelineConfig(mode="lossless", render=False), batch_timeout_s=0.05, inflight=3)
    stats = MultiStreamPipeline(streams, predictor, config).run()
    assert predictor.most >= 2  # several frames of one batch ran at once
    for rec in recorders:  # and each result went back to the stream its frame came from, in order
        assert [f[2] for f in rec.frames] == list(range(6))
    assert stats.frames_written == 18


def test_inflight_needs_a_thread_safe_predictor() -> None:
    from trt_panoptic.errors import TrtPanopticError

    with pytest.raises(TrtPanopticError, match="inflight should be 1 for the fake backend"):
        BatchCollector(FakePredictor(), 2, inflight=2)


def test_live_streams_drop_stale_frames_per_stream(tmp_path: Path) -> None:
    """Two 250 FPS 'cameras' (paced files) into a model that takes 20 ms per frame: each stream keeps only its
    newest frame, counts its own drops, and its latency stays near one batch, not the backlog."""
    clips = [write_clip(tmp_path / f"fast{i}.avi", frames=50, fps=250.0) for i in range(2)]
    streams = [Stream(open_source(str(c), pace_files=True), [], f"cam{i}") for i, c in enumerate(clips)]
    config = MultiStreamConfig(stream=PipelineConfig(mode="realtime"), batch_timeout_s=0.005)
    stats = MultiStreamPipeline(streams, FakePredictor(delay_s=0.02), config).run()
    for report in stats.streams:
        s = report.stats
        assert s.mode == "realtime" and s.frames_read == 50
        assert s.frames_processed + s.dropped_stale == 50 and s.dropped_stale >= 20
        assert s.stages["end_to_end"].percentile_ms(99) < 500.0
    d = stats.to_dict()
    assert [s["dropped_stale"] for s in d["streams"]] == [r.stats.dropped_stale for r in stats.streams]
    assert "dropped" in stats.stream_lines()[0]
