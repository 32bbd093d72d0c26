"""The streaming pipeline: capture → preprocess + infer + fuse → render + write, one thread per stage.

Stages talk through bounded channels, so memory is bounded by the queue sizes whatever the source:

- **lossless** (files, image folders): the capture thread blocks when the inference queue is full, so
  every frame is processed, in order — decoding and encoding overlap inference instead of racing it.
- **realtime** (cameras, streams, ``--realtime`` files): the inference input is a one-frame slot that
  always holds the newest frame; a frame replaced before inference took it is *stale*, dropped and
  counted. Latency stays bounded by about one inference time whatever the camera's rate.

A live source that stops delivering is reopened with bounded exponential backoff
(:class:`ReconnectPolicy`). :meth:`Pipeline.stop` (Ctrl-C, SIGTERM, a window's q key) ends the run
cleanly: inferred frames are still written, sinks close and their files are renamed into place.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import numpy as np

from trt_panoptic.errors import TrtPanopticError
from trt_panoptic.runtime.predictor import Predictor, input_size
from trt_panoptic.runtime.result import PanopticResult
from trt_panoptic.video.render import PanopticRenderer
from trt_panoptic.video.sinks import FrameSink, FrameTiming, StreamInfo
from trt_panoptic.video.sources import FrameSource, FrameStamp, ReadStatus
from trt_panoptic.video.stats import PipelineStats

logger = logging.getLogger(__name__)

Mode = Literal["auto", "realtime", "lossless"]
_END = object()  # sentinel closing a channel


@dataclass
class ReconnectPolicy:
    """Backoff for reopening a disconnected live source: delays initial_s, initial_s·factor, … capped at
    max_delay_s; after ``max_attempts`` failed attempts in a row the run ends (0 = never reconnect)."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 8.0
    max_attempts: int = 10

    def delays(self) -> list[float]:
        """The waits (seconds) before each attempt."""
        return [min(self.initial_s * self.factor**i, self.max_delay_s) for i in range(self.max_attempts)]


@dataclass
class PipelineConfig:
    """Options of one run.

    Attributes:
        mode: ``realtime`` keeps only the newest frame, ``lossless`` processes every frame, ``auto`` picks
            realtime for live sources and lossless otherwise.
        queue_size: frames buffered between stages in lossless mode (memory ≈ 2·queue_size frames).
        max_frames: stop after this many processed frames (None = until the source ends).
        hud: draw FPS and latency on the frames.
        render: draw the panoptic overlay (off: sinks get the original frame, e.g. for COCO output only).
        reconnect: backoff for live sources.
        inflight: frames inferred at once by as many worker threads (output order is kept). Only for
            predictors that declare ``thread_safe = True`` (e.g. several CUDA streams/contexts, or an
            ONNX Runtime session); the default 1 suits every backend.
    """

    mode: Mode = "auto"
    queue_size: int = 4
    max_frames: int | None = None
    hud: bool = True
    render: bool = True
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    inflight: int = 1


class Channel:
    """A bounded hand-off between two stage threads.

    ``latest=True``: one slot; :meth:`put` replaces an item not yet taken (returns True: one stale frame
    dropped). Otherwise a FIFO of ``maxsize`` whose :meth:`put` blocks while full. :meth:`close` lets the
    consumer drain what is left and then receive the end; :meth:`abort` wakes everyone up at once.
    """

    def __init__(self, maxsize: int, *, latest: bool = False) -> None:
        assert maxsize >= 1, "video.pipeline: channel size must be >= 1"
        self._items: collections.deque = collections.deque()
        self._maxsize = 1 if latest else maxsize
        self._latest = latest
        self._cond = threading.Condition()
        self._closed = False
        self._aborted = False

    def put(self, item: Any) -> bool:
        """Hand ``item`` on; returns True when it replaced a stale item (latest mode). No-op once aborted."""
        with self._cond:
            if self._aborted:
                return False
            if self._latest:
                replaced = bool(self._items)
                self._items.clear()
                self._items.append(item)
                self._cond.notify_all()
                return replaced
            while len(self._items) >= self._maxsize and not self._aborted:
                self._cond.wait()
            if not self._aborted:
                self._items.append(item)
                self._cond.notify_all()
            return False

    def get(self) -> Any:
        """The next item, or the end sentinel once closed and drained (or aborted)."""
        with self._cond:
            while not self._items and not self._closed and not self._aborted:
                self._cond.wait()
            if self._aborted or not self._items:
                return _END
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    @property
    def aborted(self) -> bool:
        return self._aborted

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._items.clear()
            self._cond.notify_all()


@dataclass
class _Captured:
    index: int  # position in the stream of decoded frames
    name: str
    image: np.ndarray
    t_capture: float  # perf_counter when the frame left the decoder
    file_name: str | None = None  # the source image's file name, if it had one
    stamp: FrameStamp | None = None
    decode_s: float = 0.0


@dataclass
class _Inferred:
    seq: int  # order in which frames were taken for inference; the render stage writes in this order
    frame: _Captured
    result: PanopticResult
    infer_s: float
    queue_s: float = 0.0


class Pipeline:
    """Runs ``predictor`` over every (or the newest) frame of ``source`` and hands results to ``sinks``.

    Args:
        source: an opened :class:`FrameSource`.
        predictor: any :class:`Predictor` (torch, onnxruntime, tensorrt backend, or a test double).
        sinks: where rendered frames go (checked writable before the run).
        config: :class:`PipelineConfig`.
        renderer: overlay drawer; default from the predictor's class names.
        hud_extra: more HUD lines, asked for per frame (a multi-stream run adds the stream and its batches).
        on_inference_end: called once when the last inference worker is done (a batch collector then stops
            waiting for this stream's frames).
    """

    def __init__(
        self,
        source: FrameSource,
        predictor: Predictor,
        sinks: list[FrameSink],
        config: PipelineConfig | None = None,
        *,
        renderer: PanopticRenderer | None = None,
        hud_extra: Callable[[], list[str]] | None = None,
        on_inference_end: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.predictor = predictor
        self.sinks = list(sinks)
        self.config = config or PipelineConfig()
        self.realtime = self.config.mode == "realtime" or (self.config.mode == "auto" and source.is_live)
        self.renderer = renderer or PanopticRenderer(predictor.thing_classes, predictor.stuff_classes)
        self._hud_extra = hud_extra
        self._on_inference_end = on_inference_end
        self.stats = PipelineStats(
            source=source.description, backend=predictor.backend,
            mode="realtime" if self.realtime else "lossless", input_size=input_size(predictor),
        )
        self._stop = threading.Event()
        self._stop_reason = ""
        self._errors: list[BaseException] = []
        if self.config.inflight < 1 or (self.config.inflight > 1 and not predictor.thread_safe):
            raise TrtPanopticError(
                f"inflight should be 1 for the {self.stats.backend} backend (not safe to call from several threads), "
                f"got {self.config.inflight} — drop --inflight" if self.config.inflight > 1 else
                f"inflight should be at least 1, got {self.config.inflight} — pass --inflight 1"
            )
        size = max(1, self.config.queue_size)
        self._to_infer = Channel(size, latest=self.realtime)
        self._to_render = Channel(size + self.config.inflight)
        self._take_lock = threading.Lock()  # held while a worker waits for a frame
        self._count_lock = threading.Lock()
        self._next_seq = 0
        self._workers_left = self.config.inflight
        self._recent_writes: collections.deque[float] = collections.deque(maxlen=30)
        #: seconds run() waits at the end for a capture thread blocked in a read (stalled stream)
        self.capture_grace_s = 2.0

    # -- control -------------------------------------------------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """End the run soon; safe from signal handlers and other threads.

        Capture stops and the frames waiting for inference are discarded; the frames being inferred and
        those already inferred (at most ``queue_size + inflight``) are still rendered and written.
        """
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
            self._to_infer.abort()

    def stop_now(self, reason: str = "stopped") -> None:
        """End the run at once (a second Ctrl-C): frames not yet written are dropped, the outputs are still
        closed with what they hold. Safe from signal handlers: it only sets flags and wakes queues. A stage's
        error stays the recorded reason."""
        if self._stop_reason != "error":
            self._stop_reason = reason
        self._stop.set()
        self._to_infer.abort()
        self._to_render.abort()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- stages --------------------------------------------------------------------------------------
    def _capture_loop(self) -> None:
        stats, cfg = self.stats, self.config
        index = 0
        try:
            while not self._stop.is_set() and not self._to_infer.aborted:
                if not self.realtime and cfg.max_frames is not None and stats.frames_read >= cfg.max_frames:
                    break
                t0 = time.perf_counter()
                read = self.source.read()
                t1 = time.perf_counter()
                if read.status is ReadStatus.FRAME:
                    stats.frames_read += 1
                    stats.record("capture", t1 - t0)
                    # a source that gives no stamp gets one from the frame's position at its frame rate
                    stamp = read.stamp or FrameStamp.from_position(index, self.source.fps)
                    frame = _Captured(index, read.name or f"{index:06d}", read.image, t1, read.file_name,
                                      stamp, t1 - t0)
                    index += 1
                    if self._to_infer.put(frame):
                        stats.dropped_stale += 1
                elif read.status is ReadStatus.CORRUPT:
                    stats.corrupt += 1
                elif read.status is ReadStatus.END:
                    break
                elif not self._reconnect():
                    break
        except BaseException as exc:  # noqa: BLE001 — reported by run()
            self._fail(exc)
        finally:
            self._to_infer.close()

    def _reconnect(self) -> bool:
        """Reopen a disconnected source with backoff; False when every attempt failed or we are stopping."""
        for attempt, delay in enumerate(self.config.reconnect.delays(), start=1):
            logger.warning("source %s disconnected; reconnect attempt %d in %.1f s",
                           self.source.description, attempt, delay)
            if self._stop.wait(delay):
                return False
            if self.source.reopen():
                self.stats.reconnects += 1
                logger.info("source %s reconnected", self.source.description)
                return True
        logger.error("source %s did not come back after %d attempts; ending the run",
                     self.source.description, self.config.reconnect.max_attempts)
        self._stop_reason = self._stop_reason or "source_lost"
        return False

    def _take(self) -> tuple[int, _Captured] | None:
        """The next frame to infer with its sequence number, or None when there is none (or max_frames)."""
        with self._take_lock:  # one worker at a time takes a frame, so sequence numbers follow frame order
            item = self._to_infer.get()
            if item is _END:
                return None
            seq = self._next_seq
            if self.config.max_frames is not None and seq >= self.config.max_frames:
                return None
            self._next_seq += 1
            return seq, item

    def _infer_loop(self) -> None:
        stats, cfg = self.stats, self.config
        try:
            while (taken := self._take()) is not None:
                seq, item = taken
                t0 = time.perf_counter()
                queue_s = t0 - item.t_capture
                stats.record("queue_wait", queue_s)
                result = self.predictor.predict(item.image)
                infer_s = time.perf_counter() - t0
                stats.record("infer", infer_s)
                with self._count_lock:
                    stats.frames_processed += 1
                self._to_render.put(_Inferred(seq, item, result, infer_s, queue_s))
                if cfg.max_frames is not None and seq + 1 >= cfg.max_frames:
                    self._stop_reason = self._stop_reason or "max_frames"
                    self._to_infer.abort()  # also ends the capture loop's blocking put
                    break
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        finally:
            with self._count_lock:
                self._workers_left -= 1
                last = self._workers_left == 0
            if last:
                self._to_render.close()
                if self._on_inference_end is not None:
                    self._on_inference_end()

    def _hud_lines(self, infer_s: float, e2e_s: float) -> list[str]:
        w = self._recent_writes
        # no rate before two frames are out (frame 0 would read "0.0 FPS")
        fps = f"{(len(w) - 1) / (w[-1] - w[0]):5.1f} FPS" if len(w) >= 2 and w[-1] > w[0] else "  --- FPS"
        # in lossless mode frames wait in the queue by design: the time since capture is queueing, not lag
        since = "e2e" if self.realtime else "queued+e2e"
        return [
            f"{fps}  infer {infer_s * 1e3:5.1f} ms  {since} {e2e_s * 1e3:5.1f} ms",
            f"{self.stats.backend} {self.stats.input_size}  dropped {self.stats.dropped_stale}  corrupt {self.stats.corrupt}",
            *(self._hud_extra() if self._hud_extra is not None else []),
        ]

    def _in_order(self):
        """Inferred frames in sequence order (several workers may finish out of order)."""
        waiting: dict[int, _Inferred] = {}
        next_seq = 0
        while (item := self._to_render.get()) is not _END:
            waiting[item.seq] = item
            while next_seq in waiting:
                yield waiting.pop(next_seq)
                next_seq += 1
        for seq in sorted(waiting):  # after a worker failed, a gap may remain: keep what we have, in order
            yield waiting[seq]

    def _render_loop(self) -> None:
        stats, cfg = self.stats, self.config
        try:
            for item in self._in_order():
                frame = item.frame
                t0 = time.perf_counter()
                if cfg.render:
                    hud = self._hud_lines(item.infer_s, t0 - frame.t_capture) if cfg.hud else None
                    rendered = self.renderer.render(frame.image, item.result, hud)
                else:
                    rendered = frame.image
                t1 = time.perf_counter()
                timing = FrameTiming(frame.decode_s, item.queue_s, item.infer_s, t1 - t0, t1 - frame.t_capture)
                for sink in self.sinks:
                    sink.write(stats.frames_written, frame.name, frame.image, rendered, item.result,
                               timestamp=frame.t_capture, source_file=frame.file_name, stamp=frame.stamp,
                               timing=timing)
                t2 = time.perf_counter()
                stats.record("render", t1 - t0)
                stats.record("write", t2 - t1)
                stats.record("end_to_end", t2 - frame.t_capture)
                stats.frames_written += 1
                self._recent_writes.append(t2)
                if any(sink.wants_stop for sink in self.sinks):
                    self.stop("user")
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc, render_stage=True)

    def _fail(self, exc: BaseException, *, render_stage: bool = False) -> None:
        self._errors.append(exc)
        self.stop("error")
        if render_stage:  # nobody drains the render queue any more: unblock the inference thread
            self._to_render.abort()

    # -- run -----------------------------------------------------------------------------------------
    def run(self, *, progress: bool = False, poll_s: float = 0.1) -> PipelineStats:
        """Run until the source ends, ``max_frames`` is reached or :meth:`stop` is called.

        The calling thread only waits (in short slices, so signal handlers run) and updates the
        progress bar. Sinks are always closed, so output files are complete and playable even when a
        stage failed; the first stage error is then re-raised.

        Returns:
            the run's :class:`PipelineStats` (also at ``self.stats``).
        """
        fps = self.source.fps or 30.0
        classes = StreamInfo(fps, list(self.predictor.thing_classes), list(self.predictor.stuff_classes),
                             realtime=self.realtime, thing_ids=list(self.predictor.thing_ids),
                             stuff_ids=list(self.predictor.stuff_ids), backend=self.stats.backend)
        for sink in self.sinks:
            sink.start(classes)
        bar = self._progress_bar() if progress else None
        self.stats.started_at = time.perf_counter()
        threads = [
            threading.Thread(target=self._capture_loop, name="trt-panoptic-capture", daemon=True),
            *(threading.Thread(target=self._infer_loop, name=f"trt-panoptic-infer{i}", daemon=True)
              for i in range(self.config.inflight)),
            threading.Thread(target=self._render_loop, name="trt-panoptic-render", daemon=True),
        ]
        capture, workers = threads[0], threads[1:]
        try:
            for t in threads:
                t.start()
            pumped = [sink for sink in self.sinks if sink.needs_pump]
            wait_s = min(poll_s, 0.01) if pumped else poll_s  # a window needs its events handled often
            while alive := [t for t in workers if t.is_alive()]:
                alive[0].join(wait_s)
                for sink in pumped:
                    sink.pump()
                    if sink.wants_stop:
                        self.stop("user")
                if bar is not None:
                    bar.set_postfix(dropped=self.stats.dropped_stale, corrupt=self.stats.corrupt, refresh=False)
                    bar.update(self.stats.frames_written - bar.n)
        finally:
            if any(t.is_alive() for t in workers):  # we were interrupted while waiting (KeyboardInterrupt)
                self.stop("interrupted")
                self._to_render.abort()
                for t in workers:
                    t.join(5.0)
            # Inference and rendering are done. The capture thread ends at once unless the source is
            # blocked in a read (a stalled network stream): then it gets a grace period and is left
            # behind (a daemon) rather than holding the shutdown — outputs are closed either way.
            self._to_infer.abort()
            capture.join(self.capture_grace_s)
            self.stats.finished_at = time.perf_counter()
            self.stats.stopped_by = self._stop_reason or "end_of_source"
            if bar is not None:
                bar.update(self.stats.frames_written - bar.n)
                bar.close()
            close_errors = []
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as exc:  # noqa: BLE001 — close every sink, report the first failure
                    close_errors.append(exc)
            if capture.is_alive():
                logger.warning("source %s is still blocked in a read after %.1f s; not waiting for it",
                               self.source.description, self.capture_grace_s)
            else:
                self.source.close()
        if self._errors:
            raise self._errors[0]
        if close_errors:
            raise close_errors[0]
        return self.stats

    def _progress_bar(self):
        from tqdm import tqdm

        total = self.source.num_frames if not self.realtime else None
        if self.config.max_frames is not None:
            total = min(total, self.config.max_frames) if total else self.config.max_frames
        return tqdm(total=total, unit="frame", desc="trt-panoptic", leave=False, dynamic_ncols=True)
