"""The streaming pipeline with fake predictors: lossless files, live-rate dropping, EOF, reconnects, errors."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from trt_panoptic.video.pipeline import Channel, Pipeline, PipelineConfig, ReconnectPolicy
from trt_panoptic.video.sinks import FrameSink, VideoFileSink
from trt_panoptic.video.sources import FrameSource, Read, ReadStatus, open_source

from .conftest import FakePredictor, index_of, read_all, synth_frame, write_clip


class RecordingSink(FrameSink):
    """Keeps (output index, name, code of the original frame) for every frame written."""

    description = "recording"

    def __init__(self) -> None:
        self.frames: list[tuple[int, str, int]] = []
        self.closed = False
        self.stamps: list = []
        self.timings: list = []

    def write(self, index, name, image, rendered, result, *, timestamp=None, source_file=None, stamp=None,
              timing=None) -> None:
        assert rendered.shape == image.shape and rendered.dtype == np.uint8
        self.frames.append((index, name, index_of(image)))
        self.stamps.append(stamp)
        self.timings.append(timing)

    def close(self) -> None:
        self.closed = True


def test_file_source_is_lossless_and_ordered(clip: Path, tmp_path: Path) -> None:
    predictor = FakePredictor()
    recorder = RecordingSink()
    out = tmp_path / "plain.avi"
    # render=False writes the decoded frames untouched, so the output's code blocks can be read back.
    config = PipelineConfig(render=False, queue_size=2)
    stats = Pipeline(open_source(str(clip)), predictor, [recorder, VideoFileSink(out)], config).run()

    assert predictor.seen == list(range(30))
    assert [f[0] for f in recorder.frames] == list(range(30))
    assert [f[2] for f in recorder.frames] == list(range(30))
    assert recorder.closed
    assert [index_of(f) for f in read_all(out)] == list(range(30))
    assert (stats.frames_read, stats.frames_processed, stats.frames_written) == (30, 30, 30)
    assert stats.dropped_stale == 0 and stats.corrupt == 0 and stats.mode == "lossless"
    assert stats.stopped_by == "end_of_source"
    # every frame carries its stamp: position / fps for a file (25 FPS here), and what its stages took
    assert [st.stamp_ns for st in recorder.stamps] == [round(i * 1e9 / 25.0) for i in range(30)]
    assert all(st.log_time_ns == st.stamp_ns for st in recorder.stamps)
    assert all(t.infer_s >= 0 and t.since_capture_s >= t.infer_s for t in recorder.timings)


def test_rendered_output_has_every_frame(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotated.mp4"
    stats = Pipeline(open_source(str(clip)), FakePredictor(), [VideoFileSink(out)]).run()
    frames = read_all(out)
    assert len(frames) == stats.frames_written == 30
    # The disc (a thing) is overlaid: its pixels are no longer pure white, the frame differs from the input.
    assert not np.array_equal(cv2.resize(frames[10], (128, 128)), synth_frame(10))
    assert not (tmp_path / "annotated.partial.mp4").exists()


def test_image_folder_skips_and_counts_corrupt_images(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"f{i:02d}.png"), synth_frame(i))
    (folder / "f02b.jpg").write_bytes(b"not a jpeg at all")
    recorder = RecordingSink()
    stats = Pipeline(open_source(str(folder)), FakePredictor(), [recorder]).run()
    assert stats.corrupt == 1
    assert [f[1] for f in recorder.frames] == ["f00", "f01", "f02", "f03", "f04"]
    assert [f[2] for f in recorder.frames] == [0, 1, 2, 3, 4]


def test_slow_backend_under_live_rate_drops_stale_frames_and_bounds_latency(tmp_path: Path) -> None:
    """A 250 FPS 'camera' (a file paced at its frame rate) feeding a 40 ms model: most frames must be
    dropped, the newest frame always wins, and latency stays near one inference — not growing with the
    backlog as it would if every frame were queued (≈ 50 × 40 ms − 0.2 s ≈ 1.8 s)."""
    clip = write_clip(tmp_path / "fast.avi", frames=50, fps=250.0)
    predictor = FakePredictor(delay_s=0.04)
    recorder = RecordingSink()
    source = open_source(str(clip), pace_files=True)
    assert source.is_live
    stats = Pipeline(source, predictor, [recorder], PipelineConfig(mode="realtime")).run()

    assert stats.mode == "realtime"
    assert stats.frames_read == 50
    assert stats.frames_processed + stats.dropped_stale == 50
    assert stats.dropped_stale >= 25
    assert predictor.seen == sorted(predictor.seen) and len(set(predictor.seen)) == len(predictor.seen)
    assert predictor.seen[-1] == 49  # the newest frame is never dropped
    e2e = stats.stages["end_to_end"]
    assert e2e.percentile_ms(99) < 400.0, stats.to_dict()["latency_ms"]


def test_lossless_memory_is_bounded_by_the_queues(clip: Path) -> None:
    """With a slow model the decoder may only run a few frames ahead (queue_size + the frame it holds)."""
    ahead: list[int] = []

    class Watching(FakePredictor):
        def predict(self, image):
            ahead.append(pipeline.stats.frames_read - pipeline.stats.frames_processed)
            return super().predict(image)

    pipeline = Pipeline(open_source(str(clip)), Watching(delay_s=0.005), [], PipelineConfig(queue_size=3))
    pipeline.run()
    assert max(ahead) <= 3 + 2


def test_truncated_file_ends_cleanly_with_the_frames_it_had(tmp_path: Path) -> None:
    whole = write_clip(tmp_path / "whole.avi", frames=30)
    truncated = tmp_path / "truncated.avi"
    data = whole.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    decodable = len(read_all(truncated))  # independent count: what OpenCV alone decodes
    assert 0 < decodable < 30

    recorder = RecordingSink()
    stats = Pipeline(open_source(str(truncated)), FakePredictor(), [recorder]).run()
    assert stats.frames_written == decodable
    assert [f[2] for f in recorder.frames] == list(range(decodable))
    assert stats.stopped_by == "end_of_source"


def test_max_frames_stops_early(clip: Path) -> None:
    predictor = FakePredictor()
    stats = Pipeline(open_source(str(clip)), predictor, [], PipelineConfig(max_frames=7)).run()
    assert predictor.seen == list(range(7))
    assert stats.frames_written == 7 and stats.stopped_by == "max_frames"


class FlakyCamera(FrameSource):
    """A live source that disconnects after ``frames_per_session`` frames; reopen() fails ``refusals`` times."""

    def __init__(self, sessions: int, frames_per_session: int, refusals: int) -> None:
        self.is_live = True
        self.description = "flaky camera"
        self.fps = 100.0
        self._sessions_left = sessions
        self._per = frames_per_session
        self._served = 0
        self._refusals = refusals
        self.reopen_calls: list[float] = []
        self._n = 0

    def read(self) -> Read:
        if self._served >= self._per:
            self._sessions_left -= 1
            return Read(ReadStatus.END if self._sessions_left == 0 else ReadStatus.DISCONNECTED)
        self._served += 1
        self._n += 1
        return Read(ReadStatus.FRAME, synth_frame(self._n - 1))

    def reopen(self) -> bool:
        self.reopen_calls.append(time.perf_counter())
        if self._refusals > 0:
            self._refusals -= 1
            return False
        self._served = 0
        return True


def test_live_disconnect_reconnects_with_backoff() -> None:
    camera = FlakyCamera(sessions=2, frames_per_session=5, refusals=2)
    policy = ReconnectPolicy(initial_s=0.02, factor=2.0, max_delay_s=0.05, max_attempts=5)
    recorder = RecordingSink()
    t0 = time.perf_counter()
    stats = Pipeline(camera, FakePredictor(), [recorder], PipelineConfig(mode="lossless", reconnect=policy)).run()
    assert stats.reconnects == 1
    assert len(camera.reopen_calls) == 3  # two refusals, then success
    gaps = np.diff([t0, *camera.reopen_calls])
    # waits 0.02, 0.04, then capped at 0.05 (the first gap also contains the first session's frames)
    assert gaps[1] >= 0.035 and gaps[2] >= 0.045
    assert [f[2] for f in recorder.frames] == list(range(10))
    assert stats.stopped_by == "end_of_source"


def test_live_source_that_never_returns_ends_the_run_after_bounded_attempts() -> None:
    camera = FlakyCamera(sessions=5, frames_per_session=3, refusals=10**6)
    policy = ReconnectPolicy(initial_s=0.01, factor=2.0, max_delay_s=0.02, max_attempts=4)
    t0 = time.perf_counter()
    stats = Pipeline(camera, FakePredictor(), [], PipelineConfig(reconnect=policy)).run()
    assert len(camera.reopen_calls) == 4
    assert time.perf_counter() - t0 < 2.0
    assert stats.stopped_by == "source_lost" and stats.reconnects == 0


def test_predictor_error_is_raised_after_outputs_are_closed(clip: Path, tmp_path: Path) -> None:
    class Failing(FakePredictor):
        def predict(self, image):
            if len(self.seen) == 5:
                raise RuntimeError("backend exploded")
            return super().predict(image)

    out = tmp_path / "partial.avi"
    with pytest.raises(RuntimeError, match="backend exploded"):
        Pipeline(open_source(str(clip)), Failing(), [VideoFileSink(out)]).run()
    assert len(read_all(out)) == 5  # the file is finalized and playable


def test_stop_from_another_thread_is_clean(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "long.avi", frames=40)
    out = tmp_path / "stopped.avi"
    pipeline = Pipeline(open_source(str(clip)), FakePredictor(delay_s=0.01), [VideoFileSink(out)])
    threading.Timer(0.1, pipeline.stop, args=("test",)).start()
    stats = pipeline.run()
    assert stats.stopped_by == "test"
    assert 0 < stats.frames_written < 40
    assert len(read_all(out)) == stats.frames_written


def test_channel_latest_replaces_and_fifo_blocks() -> None:
    latest = Channel(4, latest=True)
    assert latest.put(1) is False
    assert latest.put(2) is True  # 1 was stale
    latest.close()
    assert latest.get() == 2
    assert latest.get() is not None and latest.get() is latest.get()  # the end sentinel, repeatedly

    fifo = Channel(2)
    fifo.put("a")
    fifo.put("b")
    done = threading.Event()
    threading.Thread(target=lambda: (fifo.put("c"), done.set()), daemon=True).start()
    assert not done.wait(0.05)  # full: the producer blocks
    assert fifo.get() == "a"
    assert done.wait(1.0)
    assert [fifo.get(), fifo.get()] == ["b", "c"]


class ThreadSafeJitteryFake(FakePredictor):
    """Declares itself safe for several inference threads; every third frame is slow, so workers finish
    out of order."""

    thread_safe = True

    def predict(self, image):
        time.sleep(0.03 if index_of(image) % 3 == 0 else 0.002)
        return super().predict(image)


def test_several_inferences_in_flight_keep_output_order(clip: Path) -> None:
    predictor = ThreadSafeJitteryFake()
    recorder = RecordingSink()
    stats = Pipeline(open_source(str(clip)), predictor, [recorder], PipelineConfig(inflight=3)).run()
    assert sorted(predictor.seen) == list(range(30))
    assert [f[2] for f in recorder.frames] == list(range(30))
    assert stats.frames_processed == stats.frames_written == 30


def test_inflight_with_max_frames_is_exact(clip: Path) -> None:
    recorder = RecordingSink()
    stats = Pipeline(open_source(str(clip)), ThreadSafeJitteryFake(), [recorder],
                     PipelineConfig(inflight=3, max_frames=7)).run()
    assert [f[2] for f in recorder.frames] == list(range(7)) and stats.frames_written == 7


def test_inflight_needs_a_thread_safe_predictor(clip: Path) -> None:
    from trt_panoptic.errors import TrtPanopticError

    with pytest.raises(TrtPanopticError, match="inflight should be 1"):
        Pipeline(open_source(str(clip)), FakePredictor(), [], PipelineConfig(inflight=2))


class StalledStream(FrameSource):
    """A live source that delivers three frames and then blocks in read() (a stalled network stream)."""

    def __init__(self) -> None:
        self.is_live = True
        self.description = "stalled stream"
        self._n = 0
        self.release = threading.Event()
        self.closed = False

    def read(self) -> Read:
        if self._n >= 3:
            self.release.wait(10.0)
            return Read(ReadStatus.END)
        self._n += 1
        return Read(ReadStatus.FRAME, synth_frame(self._n - 1))

    def close(self) -> None:
        self.closed = True


def test_stop_does_not_hang_on_a_source_blocked_in_read(tmp_path: Path) -> None:
    source = StalledStream()
    out = tmp_path / "stalled.avi"
    pipeline = Pipeline(source, FakePredictor(), [VideoFileSink(out)], PipelineConfig(mode="lossless"))
    pipeline.capture_grace_s = 0.2
    threading.Timer(0.3, pipeline.stop, args=("signal:SIGINT",)).start()
    t0 = time.perf_counter()
    stats = pipeline.run()
    assert time.perf_counter() - t0 < 2.0
    assert stats.frames_written == 3 and len(read_all(out)) == 3
    assert not source.closed  # never released under a thread still inside read()
    source.release.set()


def test_live_recording_keeps_true_speed(tmp_path: Path) -> None:
    """Realtime drops most frames of a 250 FPS source; the recording repeats each written frame until the
    next, so 0.2 s of source is still about 0.2 s (≈ 50 frames at 250 FPS) of video, in capture order."""
    clip = write_clip(tmp_path / "fast.avi", frames=50, fps=250.0)
    out = tmp_path / "live.avi"
    stats = Pipeline(open_source(str(clip), pace_files=True), FakePredictor(delay_s=0.04), [VideoFileSink(out)],
                     PipelineConfig(mode="realtime", render=False)).run()
    frames = read_all(out)
    codes = [index_of(f) for f in frames]
    assert stats.frames_written < 20
    assert 35 <= len(frames) <= 65
    assert codes == sorted(codes) and len(set(codes)) == stats.frames_written
