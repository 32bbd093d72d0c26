"""Pipeline statistics: per-stage latency percentiles, end-to-end latency, throughput, frame counters.

Every stage of :class:`~trt_panoptic.video.pipeline.Pipeline` records its duration per frame in a
:class:`LatencyRecorder`. Memory stays bounded on endless live streams: a recorder keeps exact
count/mean/min/max and a fixed-size uniform reservoir sample for the percentiles.
"""
from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trt_panoptic.atomic_io import atomic_write_json

#: Stage names in pipeline order; ``end_to_end`` runs from capture to the last sink write.
STAGES = ("capture", "queue_wait", "infer", "render", "write", "end_to_end")


class LatencyRecorder:
    """Durations of one stage (seconds in, milliseconds out) with bounded memory.

    Args:
        capacity: size of the reservoir sample the percentiles are computed from; below it every
            sample is kept, so short runs have exact percentiles.
        seed: seed of the reservoir's random generator (deterministic summaries).
    """

    def __init__(self, capacity: int = 65536, seed: int = 0) -> None:
        assert capacity > 0, "video.stats: capacity must be positive"
        self._capacity = capacity
        self._rng = random.Random(seed)
        self._sample: list[float] = []
        self.count = 0
        self._sum = 0.0
        self._min = float("inf")
        self._max = 0.0

    def add(self, seconds: float) -> None:
        """Record one duration in seconds."""
        self.count += 1
        self._sum += seconds
        self._min = min(self._min, seconds)
        self._max = max(self._max, seconds)
        if len(self._sample) < self._capacity:
            self._sample.append(seconds)
        else:  # Vitter's algorithm R: every sample ends up kept with probability capacity/count
            j = self._rng.randrange(self.count)
            if j < self._capacity:
                self._sample[j] = seconds

    @property
    def total_s(self) -> float:
        """Sum of every recorded duration, seconds."""
        return self._sum

    def samples_s(self) -> np.ndarray:
        """The kept durations in seconds (all of them below ``capacity``), for pooling several recorders."""
        return np.asarray(self._sample, np.float64)

    def percentile_ms(self, q: float) -> float:
        """The q-th percentile (0..100, linear interpolation) in milliseconds; NaN when empty."""
        if not self._sample:
            return float("nan")
        return float(np.percentile(np.asarray(self._sample, np.float64), q)) * 1e3

    def summary(self) -> dict[str, float]:
        """``{count, mean, min, max, p50, p95, p99}``, times in milliseconds (empty: count 0 only)."""
        if self.count == 0:
            return {"count": 0}
        p50, p95, p99 = (float(v) * 1e3 for v in np.percentile(np.asarray(self._sample, np.float64), [50, 95, 99]))
        return {
            "count": self.count,
            "mean": self._sum / self.count * 1e3,
            "min": self._min * 1e3,
            "max": self._max * 1e3,
            "p50": p50,
            "p95": p95,
            "p99": p99,
        }


class _WallClock:
    """Wall time and throughput of a run that sets ``started_at``/``finished_at`` (``perf_counter``) and counts
    ``frames_written`` (over all its streams)."""

    started_at: float
    finished_at: float
    frames_written: int

    @property
    def wall_s(self) -> float:
        """Seconds from the run's start to its end (or to now while it runs)."""
        end = self.finished_at or time.perf_counter()
        return max(end - self.started_at, 0.0) if self.started_at else 0.0

    @property
    def throughput_fps(self) -> float:
        """Frames written per second of wall time."""
        wall = self.wall_s
        return self.frames_written / wall if wall > 0 else 0.0


@dataclass
class PipelineStats(_WallClock):
    """Counters and latencies of one pipeline run.

    Counters: ``frames_read`` decoded frames taken from the source; ``frames_processed`` frames the
    predictor ran on; ``frames_written`` frames every sink accepted; ``dropped_stale`` live frames
    replaced by a newer one before inference; ``corrupt`` frames the source could not decode (skipped);
    ``reconnects`` successful re-opens of a live source after a disconnect.
    """

    source: str = ""
    backend: str = ""
    mode: str = ""
    input_size: str = ""  #: the model's input, "HxW", or "frame" when each frame runs at its own size
    frames_read: int = 0
    frames_processed: int = 0
    frames_written: int = 0
    dropped_stale: int = 0
    corrupt: int = 0
    reconnects: int = 0
    stopped_by: str = "end_of_source"
    started_at: float = 0.0
    finished_at: float = 0.0
    stages: dict[str, LatencyRecorder] = field(default_factory=lambda: {s: LatencyRecorder() for s in STAGES})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, stage: str, seconds: float) -> None:
        """Add one duration (seconds) to ``stage`` (one of :data:`STAGES`)."""
        with self._lock:
            self.stages[stage].add(seconds)


    def to_dict(self) -> dict:
        """A JSON-ready summary; latencies in milliseconds under ``latency_ms``."""
        with self._lock:
            latency = {name: rec.summary() for name, rec in self.stages.items()}
        return {
            "source": self.source,
            "backend": self.backend,
            "input_size": self.input_size,
            "mode": self.mode,
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "frames_written": self.frames_written,
            "dropped_stale": self.dropped_stale,
            "corrupt": self.corrupt,
            "reconnects": self.reconnects,
            "stopped_by": self.stopped_by,
            "wall_s": self.wall_s,
            "throughput_fps": self.throughput_fps,
            "latency_ms": latency,
        }

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` to ``path`` (through a temp file and a rename) and return the path."""
        return atomic_write_json(path, self.to_dict())

    def summary_line(self) -> str:
        """One human line: frames, throughput, inference and end-to-end latency."""
        infer = self.stages["infer"]
        e2e = self.stages["end_to_end"]
        size = f" at {self.input_size}" if self.input_size and self.input_size != "frame" else ""
        return (
            f"{self.frames_written} frames in {self.wall_s:.1f} s = {self.throughput_fps:.1f} FPS{size}; "
            f"infer p50 {infer.percentile_ms(50):.1f} ms, end-to-end p50 {e2e.percentile_ms(50):.1f} ms "
            f"p99 {e2e.percentile_ms(99):.1f} ms; dropped {self.dropped_stale}, corrupt {self.corrupt}"
        )


@dataclass
class BatchStats:
    """What the batch collector of a multi-stream run did.

    ``batch_size`` is the most frames one batch may hold (the stream count, or the predictor's
    ``max_batch`` when that is smaller); occupancy is frames per batch over it, so batches left part-empty
    (a stream behind, ended or failed) show as occupancy below 100 %. ``collect`` times how long a batch
    waited after its first frame for the others (at most ``--batch-timeout``); ``infer`` the whole batch.
    """

    batch_size: int = 1
    batches: int = 0
    frames: int = 0
    full: int = 0  #: batches that held ``batch_size`` frames
    collect: LatencyRecorder = field(default_factory=LatencyRecorder)
    infer: LatencyRecorder = field(default_factory=LatencyRecorder)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, frames: int, collect_s: float, infer_s: float) -> None:
        """One batch of ``frames`` frames that waited ``collect_s`` and ran ``infer_s`` seconds."""
        with self._lock:
            self.batches += 1
            self.frames += frames
            self.full += frames >= self.batch_size
            self.collect.add(collect_s)
            self.infer.add(infer_s)

    @property
    def frames_per_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0

    @property
    def occupancy(self) -> float:
        """Mean frames per batch / batch size, 0..1 (0 before the first batch)."""
        return self.frames_per_batch / self.batch_size if self.batch_size else 0.0

    def to_dict(self) -> dict:
        """A JSON-ready summary; times in milliseconds."""
        with self._lock:
            return {"batch_size": self.batch_size, "batches": self.batches, "frames": self.frames,
                    "frames_per_batch": self.frames_per_batch, "occupancy": self.occupancy, "full_batches": self.full,
                    "latency_ms": {"collect": self.collect.summary(), "infer": self.infer.summary()}}


@dataclass
class StreamReport:
    """One stream of a multi-stream run: its name, its own :class:`PipelineStats`, and the error that ended
    it early (None when it ended normally)."""

    index: int
    name: str
    stats: PipelineStats
    error: str | None = None

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "error": self.error, **self.stats.to_dict()}


@dataclass
class MultiStreamStats(_WallClock):
    """A multi-stream run: every stream's :class:`StreamReport`, the batches, and totals over all streams."""

    streams: list[StreamReport]
    batch: BatchStats
    backend: str = ""
    input_size: str = ""
    stopped_by: str = "end_of_source"
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def frames_written(self) -> int:
        return sum(s.stats.frames_written for s in self.streams)

    @property
    def frames_processed(self) -> int:
        return sum(s.stats.frames_processed for s in self.streams)

    @property
    def failed(self) -> list[StreamReport]:
        return [s for s in self.streams if s.error is not None]

    def to_dict(self) -> dict:
        """A JSON-ready summary: totals, ``batch`` (occupancy, collect and batch latency) and ``streams`` (each
        stream's :meth:`PipelineStats.to_dict` with its index, name and error)."""
        return {
            "backend": self.backend,
            "input_size": self.input_size,
            "num_streams": len(self.streams),
            "frames_processed": self.frames_processed,
            "frames_written": self.frames_written,
            "stopped_by": self.stopped_by,
            "wall_s": self.wall_s,
            "throughput_fps": self.throughput_fps,
            "batch": self.batch.to_dict(),
            "streams": [s.to_dict() for s in self.streams],
        }

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` to ``path`` (through a temp file and a rename) and return the path."""
        return atomic_write_json(path, self.to_dict())

    def summary_line(self) -> str:
        """One human line for the whole run (per-stream lines: :meth:`stream_lines`)."""
        b = self.batch
        return (f"{self.frames_written} frames from {len(self.streams)} streams in {self.wall_s:.1f} s = "
                f"{self.throughput_fps:.1f} FPS in all; {b.batches} batches of {b.frames_per_batch:.2f}/{b.batch_size} "
                f"frames (occupancy {100 * b.occupancy:.0f} %)")

    def stream_lines(self) -> list[str]:
        """One line per stream: its frames, rate, latency and drops, or the error that ended it."""
        lines = []
        for s in self.streams:
            st, e2e = s.stats, s.stats.stages["end_to_end"]
            line = (f"  stream {s.index} ({s.name}): {st.frames_written} frames, {st.throughput_fps:.1f} FPS, "
                    f"end-to-end p50 {e2e.percentile_ms(50):.1f} ms p99 {e2e.percentile_ms(99):.1f} ms, "
                    f"dropped {st.dropped_stale}, corrupt {st.corrupt}")
            lines.append(line + (f"; failed: {s.error}" if s.error else ""))
        return lines
