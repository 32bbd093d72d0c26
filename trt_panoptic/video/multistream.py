"""Many streams, one model: every stream runs the single-stream :class:`~trt_panoptic.video.pipeline.Pipeline`
(its own capture, realtime/lossless hand-off, reconnects, render thread, sinks and stats), and their
inference goes through one :class:`BatchCollector` that owns the model.

Each stream's inference thread hands its frame (the newest of a live stream, the next one of a file) to the
collector and waits. The collector starts a batch with the first frame to arrive and waits up to
``batch_timeout_s`` for the other open streams' frames — a file's next frame is there at once, a camera's
within a frame period — then runs the batch through the predictor's ``predict_batch`` and hands each stream
its result. One model instance serves all streams (one set of weights and one thread pool instead of one per
stream), and while it runs, the other streams decode, draw and encode. A predictor safe to call from several
threads (ONNX Runtime) may run up to ``inflight`` frames of a batch at once: on a CPU, frames side by side
with one intra-op thread each keep the cores busier than one frame at a time spread over all of them
(``benchmarks/results/multistream_*.md``).

A stream that ends, loses its source or fails stops only itself: the collector stops waiting for it, and its
error is reported in its :class:`~trt_panoptic.video.stats.StreamReport`. An error of the model itself fails
every stream waiting on that batch.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.runtime.predictor import Predictor, input_size, max_batch, predict_many
from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.video.pipeline import Pipeline, PipelineConfig
from trt_panoptic.video.sinks import FrameSink
from trt_panoptic.video.sources import FrameSource
from trt_panoptic.video.stats import BatchStats, MultiStreamStats, StreamReport

logger = logging.getLogger(__name__)


@dataclass
class _Request:
    stream: int
    image: np.ndarray
    t_submit: float
    done: threading.Event = field(default_factory=threading.Event)
    result: PanopticResult | None = None
    error: BaseException | None = None


class BatchCollector:
    """Groups the frames several streams submit into batches for one predictor, on its own thread.

    Args:
        predictor: the model every stream shares; called from the collector's thread only, so it need not be
            thread-safe.
        streams: how many streams submit frames.
        timeout_s: how long a batch waits after its first frame for the other open streams' frames.
        inflight: frames of a batch inferred at once, on as many threads (only for a ``thread_safe`` predictor
            whose graph takes one image at a time; 1 = one after the other).
    """

    def __init__(self, predictor: Predictor, streams: int, *, timeout_s: float = 0.010, inflight: int = 1) -> None:
        assert streams >= 1 and timeout_s >= 0, "video.multistream: need a stream and a non-negative timeout"
        if inflight < 1 or (inflight > 1 and not predictor.thread_safe):
            raise TrtPanopticError(
                f"inflight should be 1 for the {predictor.backend} backend (not safe to call from several threads), "
                f"got {inflight} — drop --inflight" if inflight > 1 else
                f"inflight should be at least 1, got {inflight} — pass --inflight 1")
        self.predictor = predictor
        self.timeout_s = timeout_s
        self.inflight = inflight
        # Without a batch graph (max_batch 1) a batch is still one frame per stream: predict_batch then runs
        # them one by one, and the grouping keeps every stream's frames moving at the same pace.
        graph_batch = max_batch(predictor)
        self.stats = BatchStats(batch_size=min(streams, graph_batch) if graph_batch > 1 else streams)
        self._pending: list[_Request] = []
        self._open = set(range(streams))
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="trt-panoptic-batch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    def client(self, stream: int) -> StreamPredictor:
        """The :class:`Predictor` stream ``stream``'s pipeline calls."""
        return StreamPredictor(self, stream)

    def submit(self, stream: int, image: np.ndarray) -> PanopticResult:
        """Queue ``image`` from ``stream`` and block until its batch ran; re-raises the model's error."""
        request = _Request(stream, image, time.perf_counter())
        with self._cond:
            assert stream in self._open, f"video.multistream: stream {stream} submitted after it closed"
            self._pending.append(request)
            self._cond.notify_all()
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def close_stream(self, stream: int) -> None:
        """Stream ``stream`` sends no more frames: batches stop waiting for it. Idempotent."""
        with self._cond:
            self._open.discard(stream)
            self._cond.notify_all()

    def _wanted(self) -> int:
        return min(self.stats.batch_size, max(len(self._open), 1))

    def _next_batch(self) -> tuple[list[_Request], float] | None:
        """The next batch (oldest frames first) and how long it waited for them; None once every stream closed."""
        with self._cond:
            while not self._pending:
                if not self._open:
                    return None
                self._cond.wait()
            deadline = self._pending[0].t_submit + self.timeout_s
            while len(self._pending) < self._wanted() and (left := deadline - time.perf_counter()) > 0:
                self._cond.wait(left)
            batch = self._pending[:self.stats.batch_size]
            del self._pending[:len(batch)]
            return batch, time.perf_counter() - batch[0].t_submit

    def _infer(self, images: list[np.ndarray], pool: ThreadPoolExecutor | None) -> list[PanopticResult]:
        if pool is None or len(images) == 1:
            return predict_many(self.predictor, images)
        return list(pool.map(self.predictor.predict, images))

    def _loop(self) -> None:
        with contextlib.ExitStack() as stack:
            pool = (stack.enter_context(ThreadPoolExecutor(self.inflight, thread_name_prefix="trt-panoptic-batch"))
                    if self.inflight > 1 and max_batch(self.predictor) == 1 else None)
            while (taken := self._next_batch()) is not None:
                self._run(*taken, pool)

    def _run(self, batch: list[_Request], collect_s: float, pool: ThreadPoolExecutor | None) -> None:
        t0 = time.perf_counter()
        try:
            results = self._infer([r.image for r in batch], pool)
            assert len(results) == len(batch), "video.multistream: predict_batch returned the wrong count"
            for request, result in zip(batch, results):
                request.result = result
        except BaseException as exc:  # noqa: BLE001 — every stream waiting on this batch gets it
            for request in batch:
                request.error = exc
        self.stats.record(len(batch), collect_s, time.perf_counter() - t0)
        for request in batch:
            request.done.set()


class StreamPredictor:
    """One stream's view of the shared model: a :class:`Predictor` whose :meth:`predict` goes through the
    :class:`BatchCollector` (so the stream's pipeline runs unchanged)."""

    thread_safe = False  # one inference thread per stream: the collector expects one frame at a time from each

    def __init__(self, collector: BatchCollector, stream: int) -> None:
        p = collector.predictor
        self.backend = p.backend
        self.thing_classes, self.stuff_classes = list(p.thing_classes), list(p.stuff_classes)
        self.thing_ids, self.stuff_ids = list(p.thing_ids), list(p.stuff_ids)
        self.height, self.width = p.height, p.width
        self._collector = collector
        self.stream = stream

    def predict(self, image: np.ndarray) -> PanopticResult:
        return self._collector.submit(self.stream, image)

    def close(self) -> None:
        self._collector.close_stream(self.stream)


@dataclass
class Stream:
    """One input of a multi-stream run: an opened source, its sinks and its name (``--source-name``, or the
    stream's index)."""

    source: FrameSource
    sinks: list[FrameSink]
    name: str


@dataclass
class MultiStreamConfig:
    """Options of a multi-stream run.

    Attributes:
        stream: each stream's :class:`PipelineConfig` (mode, queue size, ``max_frames`` per stream, HUD …);
            ``inflight`` must stay 1 (the collector takes one frame at a time from each stream).
        batch_timeout_s: how long a batch waits after its first frame for the other streams (``--batch-timeout``).
        inflight: frames of a batch inferred at once (``--inflight``; thread-safe predictors only).
    """

    stream: PipelineConfig = field(default_factory=PipelineConfig)
    batch_timeout_s: float = 0.010
    inflight: int = 1


class MultiStreamPipeline:
    """Runs one :class:`Pipeline` per stream over a shared, batching model.

    Args:
        streams: the inputs, each with its own sinks (a window or a bag shared by streams gives each stream a
            view of it; see :mod:`trt_panoptic.video.tiles` and :meth:`BagSink.for_streams`).
        predictor: the model, called from the collector's thread only.
        config: :class:`MultiStreamConfig`.
        shared: outputs every stream writes through a view of its own (a :class:`~trt_panoptic.video.tiles.Mosaic`):
            pumped on the calling thread when they need it, closed after every stream ended.
    """

    def __init__(self, streams: list[Stream], predictor: Predictor, config: MultiStreamConfig | None = None, *,
                 shared: list | None = None) -> None:
        assert streams, "video.multistream: no stream"
        self.config = config or MultiStreamConfig()
        assert self.config.stream.inflight == 1, "video.multistream: inflight must be 1 per stream"
        self.streams = list(streams)
        self.predictor = predictor
        self.collector = BatchCollector(predictor, len(streams), timeout_s=self.config.batch_timeout_s,
                                        inflight=self.config.inflight)
        self.pipelines: list[Pipeline] = []
        for i, stream in enumerate(self.streams):
            client = self.collector.client(i)
            self.pipelines.append(Pipeline(stream.source, client, stream.sinks, self.config.stream,
                                           hud_extra=self._hud_for(i), on_inference_end=client.close))
        self._shared = list(shared or [])
        self._pumped = [s for s in self._shared if s.needs_pump]
        self._errors: list[BaseException | None] = [None] * len(streams)
        self._stop_reason = ""
        self.stats = MultiStreamStats(
            [StreamReport(i, s.name, p.stats) for i, (s, p) in enumerate(zip(self.streams, self.pipelines))],
            self.collector.stats, backend=predictor.backend, input_size=input_size(predictor))

    def _hud_for(self, index: int):
        name = self.streams[index].name
        batch = self.collector.stats

        def lines() -> list[str]:
            return [f"stream {name}  batch {batch.frames_per_batch:.1f}/{batch.batch_size} "
                    f"({100 * batch.occupancy:.0f} %)"]
        return lines

    # -- control (same contract as Pipeline, so the CLI's signal handling drives either) -------------
    def stop(self, reason: str = "stopped") -> None:
        """End every stream soon (frames in flight are still written); safe from signal handlers."""
        self._stop_reason = self._stop_reason or reason
        for p in self.pipelines:
            p.stop(reason)

    def stop_now(self, reason: str = "stopped") -> None:
        """End every stream at once; outputs are still closed with what they hold."""
        self._stop_reason = reason
        for p in self.pipelines:
            p.stop_now(reason)

    @property
    def stopping(self) -> bool:
        return all(p.stopping for p in self.pipelines)

    # -- run -----------------------------------------------------------------------------------------
    def _run_stream(self, index: int) -> None:
        try:
            self.pipelines[index].run()
        except BaseException as exc:  # noqa: BLE001 — one stream's failure is reported, the others go on
            self._errors[index] = exc
            logger.error("stream %d (%s) failed: %s", index, self.streams[index].name, exc)
        finally:
            self.collector.close_stream(index)  # also when it failed before its inference started

    def run(self, *, progress: bool = False, poll_s: float = 0.1) -> MultiStreamStats:
        """Run until every stream ended or :meth:`stop` was called; returns :class:`MultiStreamStats`.

        Every stream's sinks are closed whatever happened. A stream's error is recorded in its report (and
        logged), not raised: the caller decides what a failed stream means for the run.
        """
        threads = [threading.Thread(target=self._run_stream, args=(i,), name=f"trt-panoptic-stream{i}", daemon=True)
                   for i in range(len(self.streams))]
        bar = self._progress_bar() if progress else None
        self.stats.started_at = time.perf_counter()
        self.collector.start()
        wait_s = min(poll_s, 0.01) if self._pumped else poll_s
        try:
            for t in threads:
                t.start()
            while alive := [t for t in threads if t.is_alive()]:
                alive[0].join(wait_s)
                for sink in self._pumped:
                    sink.pump()
                    if sink.wants_stop:
                        self.stop("user")
                if bar is not None:
                    bar.update(self.stats.frames_written - bar.n)
        finally:
            if any(t.is_alive() for t in threads):  # interrupted while waiting (KeyboardInterrupt)
                self.stop("interrupted")
                for t in threads:
                    t.join(10.0)
            self.collector.join(1.0)
            self.stats.finished_at = time.perf_counter()
            for report, error in zip(self.stats.streams, self._errors):
                report.error = None if error is None else (str(error).splitlines()[0] if str(error) else
                                                           type(error).__name__)
            self.stats.stopped_by = self._stop_reason or "end_of_source"
            if bar is not None:
                bar.update(self.stats.frames_written - bar.n)
                bar.close()
            for sink in self._shared:
                sink.close()
        return self.stats

    @property
    def errors(self) -> list[BaseException | None]:
        """Each stream's error (None: it ended normally), in stream order."""
        return list(self._errors)

    def _progress_bar(self):
        from tqdm import tqdm

        counts = [s.source.num_frames for s, p in zip(self.streams, self.pipelines) if not p.realtime]
        total = sum(counts) if len(counts) == len(self.streams) and all(counts) else None
        return tqdm(total=total, unit="frame", desc="trt-panoptic", leave=False, dynamic_ncols=True)
