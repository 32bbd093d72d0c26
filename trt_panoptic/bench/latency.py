"""Latency measurement and statistics, reported the way ``trtexec`` reports them.

* :func:`percentile` is the nearest-rank percentile (the smallest sample with at least ``q`` % of the
  samples at or below it) — the rule trtexec's ``findPercentile`` implements, so our p90/p99 and
  trtexec's are the same statistic. :func:`median` averages the two middle samples, as trtexec does.
* :func:`time_host` times a callable with ``time.perf_counter`` (CPU backends; ``sync`` lets a caller
  wait for asynchronous work). :func:`time_cuda` brackets each call with CUDA events on the current
  stream, so the number is device time, free of Python launch jitter.
* :func:`interleaved` runs several models round-robin in one loop, so a load spike on a shared machine
  hits every model alike — the comparison between variants stays fair even when the absolute numbers drift.
* :func:`summarize_trt` turns per-inference records of a TensorRT runner (H2D, GPU compute, D2H
  milliseconds) into trtexec's "Performance summary" fields; :func:`format_trtexec` prints them.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from trt_panoptic.errors import TrtPanopticError

PERCENTILES = (50, 90, 95, 99)


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: ``sorted(samples)[ceil(q/100 · n) − 1]`` (``q`` in percent, 0 < q ≤ 100)."""
    if not samples:
        raise TrtPanopticError("latency samples should not be empty — run at least one timed iteration")
    if not 0 < q <= 100:
        raise TrtPanopticError(f"percentile should be in (0, 100], got {q} — pass e.g. 90 or 99")
    ordered = sorted(samples)
    # Integer arithmetic where possible: 0.9 * 10 in floats is 9.000000000000002, whose ceil is 10.
    rank = math.ceil(round(q * len(ordered), 9) / 100)
    return float(ordered[max(rank, 1) - 1])


def median(samples: Sequence[float]) -> float:
    """Middle sample, or the mean of the two middle ones for an even count (trtexec's ``findMedian``)."""
    if not samples:
        raise TrtPanopticError("latency samples should not be empty — run at least one timed iteration")
    ordered = sorted(samples)
    n = len(ordered)
    return float(ordered[n // 2]) if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2.0


@dataclass
class LatencyStats:
    """Statistics of per-iteration latencies, in milliseconds; ``throughput`` in images per second."""

    iterations: int
    mean_ms: float
    min_ms: float
    max_ms: float
    median_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    std_ms: float
    throughput: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def summarize(samples_ms: Sequence[float], *, batch: int = 1, wall_s: float | None = None) -> LatencyStats:
    """Stats of ``samples_ms`` (one latency per timed iteration, ms).

    ``throughput`` = ``batch × iterations / wall_s`` when the loop's wall time is given (what trtexec
    reports: it includes gaps between iterations), else ``batch × 1000 / mean_ms``.
    """
    if not samples_ms:
        raise TrtPanopticError("latency samples should not be empty — run at least one timed iteration")
    n = len(samples_ms)
    mean = sum(samples_ms) / n
    std = math.sqrt(sum((s - mean) ** 2 for s in samples_ms) / n)
    throughput = batch * n / wall_s if wall_s else batch * 1000.0 / mean
    return LatencyStats(
        iterations=n, mean_ms=mean, min_ms=float(min(samples_ms)), max_ms=float(max(samples_ms)),
        median_ms=median(samples_ms), p50_ms=percentile(samples_ms, 50), p90_ms=percentile(samples_ms, 90),
        p95_ms=percentile(samples_ms, 95), p99_ms=percentile(samples_ms, 99), std_ms=std, throughput=throughput,
    )


def _check_counts(warmup: int, iterations: int) -> None:
    if warmup < 0 or iterations < 1:
        raise TrtPanopticError(
            f"warm-up should be >= 0 and iterations >= 1, got warmup={warmup}, iterations={iterations} — pass e.g. --warmup 2 --iterations 10"
        )


def time_host(
    fn: Callable[[], Any], *, warmup: int, iterations: int, sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[list[float], float]:
    """Call ``fn`` ``warmup`` times untimed, then ``iterations`` times timed.

    Returns:
        (per-iteration latencies in ms, wall time of the timed loop in s). ``sync`` (e.g.
        ``torch.cuda.synchronize``) runs after every call, inside the timed interval.
    """
    _check_counts(warmup, iterations)
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    samples = []
    start = clock()
    for _ in range(iterations):
        t0 = clock()
        fn()
        if sync:
            sync()
        samples.append((clock() - t0) * 1000.0)
    return samples, clock() - start


def time_cuda(fn: Callable[[], Any], *, warmup: int, iterations: int) -> tuple[list[float], float]:
    """Like :func:`time_host` but each iteration is timed by a pair of CUDA events on the current stream."""
    import torch

    if not torch.cuda.is_available():
        raise TrtPanopticError("CUDA timing needs a CUDA device, none is visible — use --device cpu")
    _check_counts(warmup, iterations)
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iterations)]
    start = time.perf_counter()
    for begin, end in events:
        begin.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return [begin.elapsed_time(end) for begin, end in events], wall


def interleaved(
    fns: Mapping[str, Callable[[], Any]], *, warmup: int, iterations: int,
    sync: Callable[[], None] | None = None, clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Time several callables round-robin: iteration i runs every ``fns[name]`` once. ms per name."""
    _check_counts(warmup, iterations)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
            if sync:
                sync()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(iterations):
        for name, fn in fns.items():
            t0 = clock()
            fn()
            if sync:
                sync()
            samples[name].append((clock() - t0) * 1000.0)
    return samples


# --- TensorRT: trtexec's performance summary ---


class TimedInference(Protocol):
    """What the TensorRT runner offers the benchmark: one inference, timed phase by phase.

    ``infer_timed()`` runs H2D copy → enqueue → D2H on the runner's stream with CUDA events between the
    phases and returns milliseconds ``{"h2d_ms", "compute_ms", "d2h_ms"}`` (optionally ``"enqueue_ms"``, the
    host time ``execute_async_v3`` took), after synchronizing.
    """

    def infer_timed(self) -> Mapping[str, float]: ...


@dataclass
class TrtexecSummary:
    """trtexec's "Performance summary". ``latency`` = H2D + GPU compute + D2H of each inference."""

    throughput_qps: float
    latency: LatencyStats
    h2d: LatencyStats
    gpu_compute: LatencyStats
    d2h: LatencyStats
    enqueue: LatencyStats | None
    total_host_walltime_s: float
    total_gpu_compute_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_trt(records: Sequence[Mapping[str, float]], *, wall_s: float, batch: int = 1) -> TrtexecSummary:
    """trtexec's fields from per-inference phase timings (see :class:`TimedInference`), ``wall_s``: loop time."""
    if not records:
        raise TrtPanopticError("TensorRT timing records should not be empty — run at least one timed iteration")
    missing = {"h2d_ms", "compute_ms", "d2h_ms"} - set(records[0])
    if missing:
        raise TrtPanopticError(f"TensorRT timing records should have h2d_ms, compute_ms, d2h_ms, missing {sorted(missing)} — update the runner")
    h2d = [r["h2d_ms"] for r in records]
    compute = [r["compute_ms"] for r in records]
    d2h = [r["d2h_ms"] for r in records]
    total = [a + b + c for a, b, c in zip(h2d, compute, d2h)]
    enqueue = [r["enqueue_ms"] for r in records] if "enqueue_ms" in records[0] else None
    return TrtexecSummary(
        throughput_qps=batch * len(records) / wall_s,
        latency=summarize(total, batch=batch, wall_s=wall_s),
        h2d=summarize(h2d, batch=batch, wall_s=wall_s),
        gpu_compute=summarize(compute, batch=batch, wall_s=wall_s),
        d2h=summarize(d2h, batch=batch, wall_s=wall_s),
        enqueue=summarize(enqueue, batch=batch, wall_s=wall_s) if enqueue else None,
        total_host_walltime_s=wall_s,
        total_gpu_compute_s=sum(compute) / 1000.0,
    )


def time_trt(runner: TimedInference, *, warmup: int, iterations: int) -> TrtexecSummary:
    """Warm up, then time ``iterations`` inferences of ``runner`` and summarize them like trtexec."""
    _check_counts(warmup, iterations)
    for _ in range(warmup):
        runner.infer_timed()
    start = time.perf_counter()
    records = [dict(runner.infer_timed()) for _ in range(iterations)]
    return summarize_trt(records, wall_s=time.perf_counter() - start)


def _line(label: str, s: LatencyStats) -> str:
    return (f"{label}: min = {s.min_ms:.5g} ms, max = {s.max_ms:.5g} ms, mean = {s.mean_ms:.5g} ms, "
            f"median = {s.median_ms:.5g} ms, percentile(90%) = {s.p90_ms:.5g} ms, "
            f"percentile(95%) = {s.p95_ms:.5g} ms, percentile(99%) = {s.p99_ms:.5g} ms")


def format_trtexec(summary: TrtexecSummary) -> list[str]:
    """The lines of trtexec's "=== Performance summary ===", same labels and order, for side-by-side reading."""
    lines = ["=== Performance summary ===", f"Throughput: {summary.throughput_qps:.5g} qps",
             _line("Latency", summary.latency)]
    if summary.enqueue is not None:
        lines.append(_line("Enqueue Time", summary.enqueue))
    lines += [_line("H2D Latency", summary.h2d), _line("GPU Compute Time", summary.gpu_compute),
              _line("D2H Latency", summary.d2h), f"Total Host Walltime: {summary.total_host_walltime_s:.5g} s",
              f"Total GPU Compute Time: {summary.total_gpu_compute_s:.5g} s"]
    return lines


def format_stats(label: str, stats: LatencyStats) -> str:
    """One trtexec-style line for a host- or event-timed backend, plus its throughput."""
    return f"{_line(label, stats)}; throughput = {stats.throughput:.4g} img/s"
