"""Latency statistics: percentile maths against numpy and hand values, timing loops with a fake clock."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from trt_panoptic.bench.latency import (
    format_trtexec,
    interleaved,
    median,
    percentile,
    summarize,
    summarize_trt,
    time_host,
    time_trt,
)
from trt_panoptic.errors import TrtPanopticError


def test_percentile_is_nearest_rank_by_hand():
    samples = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0]  # 1..10 shuffled
    assert percentile(samples, 50) == 5.0  # ceil(5) = 5th smallest
    assert percentile(samples, 90) == 9.0  # ceil(9) = 9th, not 10th (0.9 * 10 is 9.000000000000002 in floats)
    assert percentile(samples, 91) == 10.0  # ceil(9.1) = 10th
    assert percentile(samples, 99) == 10.0
    assert percentile(samples, 100) == 10.0
    assert percentile(samples, 10) == 1.0
    assert percentile(samples, 0.5) == 1.0
    assert percentile([7.5], 99) == 7.5


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 99, 100, 101, 1000])
def test_percentile_matches_exact_nearest_rank_and_numpy_inverted_cdf(n):
    rng = np.random.default_rng(n)
    samples = rng.exponential(5.0, size=n).tolist()
    ordered = sorted(samples)
    for q in ("1", "10", "25", "50", "90", "95", "99", "99.9", "100"):
        exact_rank = math.ceil(Fraction(q) * n / 100)  # exact rational arithmetic, no float rounding
        assert percentile(samples, float(q)) == ordered[exact_rank - 1], (n, q)
    for q in (1, 10, 25, 50, 90, 95, 99, 100):
        # numpy's nearest-rank method agrees for integer percents (for 99.9 % of 1000 its float q/100 rounds
        # up to rank 1000, where the exact rank is 999)
        assert percentile(samples, q) == np.percentile(samples, q, method="inverted_cdf"), (n, q)
    assert median(samples) == float(np.median(samples))


def test_percentile_rejects_empty_and_out_of_range():
    with pytest.raises(TrtPanopticError, match="at least one"):
        percentile([], 50)
    with pytest.raises(TrtPanopticError, match="90 or 99"):
        percentile([1.0], 0)
    with pytest.raises(TrtPanopticError, match="90 or 99"):
        percentile([1.0], 101)


def test_summarize_by_hand():
    s = summarize([10.0, 20.0, 30.0, 40.0], batch=2)
    assert (s.iterations, s.mean_ms, s.min_ms, s.max_ms) == (4, 25.0, 10.0, 40.0)
    assert s.median_ms == 25.0 and s.p50_ms == 20.0 and s.p90_ms == 40.0 and s.p99_ms == 40.0
    assert s.std_ms == pytest.approx(np.std([10, 20, 30, 40]))
    assert s.throughput == pytest.approx(2 * 1000 / 25.0)  # no wall time: batch / mean
    assert summarize([10.0, 20.0], wall_s=0.5).throughput == pytest.approx(4.0)  # 2 images in 0.5 s


class FakeClock:
    """A clock that advances only when a fake model runs: each call of ``work(ms)`` takes ``ms``."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls: list[str] = []

    def __call__(self) -> float:
        return self.now

    def work(self, name: str, ms: float):
        def run() -> None:
            self.calls.append(name)
            self.now += ms / 1000.0

        return run


def test_time_host_skips_warmup_and_measures_each_iteration():
    clock = FakeClock()
    durations = iter([100.0, 100.0, 1.0, 2.0, 3.0])  # two slow warm-up calls, then 1, 2, 3 ms
    fn = lambda: clock.work("m", next(durations))()  # noqa: E731
    samples, wall = time_host(fn, warmup=2, iterations=3, clock=clock)
    assert samples == pytest.approx([1.0, 2.0, 3.0])
    assert wall == pytest.approx(0.006)
    with pytest.raises(TrtPanopticError, match="iterations >= 1"):
        time_host(fn, warmup=0, iterations=0)


def test_interleaved_runs_round_robin_and_attributes_each_time():
    clock = FakeClock()
    fns = {"fpn": clock.work("fpn", 2.0), "dilated8": clock.work("dilated8", 7.0)}
    samples = interleaved(fns, warmup=1, iterations=2, clock=clock)
    assert clock.calls == ["fpn", "dilated8"] * 3
    assert samples == {"fpn": pytest.approx([2.0, 2.0]), "dilated8": pytest.approx([7.0, 7.0])}


def test_trtexec_summary_fields():
    records = [
        {"h2d_ms": 1.0, "compute_ms": 4.0, "d2h_ms": 0.5, "enqueue_ms": 0.2},
        {"h2d_ms": 1.0, "compute_ms": 6.0, "d2h_ms": 0.5, "enqueue_ms": 0.3},
    ]
    s = summarize_trt(records, wall_s=0.02)
    assert s.throughput_qps == pytest.approx(100.0)
    assert (s.latency.min_ms, s.latency.max_ms, s.latency.mean_ms) == (5.5, 7.5, 6.5)
    assert s.gpu_compute.median_ms == 5.0 and s.total_gpu_compute_s == pytest.approx(0.010)
    lines = format_trtexec(s)
    labels = [line.split(":")[0] for line in lines[1:]]
    assert labels == ["Throughput", "Latency", "Enqueue Time", "H2D Latency", "GPU Compute Time", "D2H Latency",
                      "Total Host Walltime", "Total GPU Compute Time"]
    with pytest.raises(TrtPanopticError, match="compute_ms"):
        summarize_trt([{"h2d_ms": 1.0, "d2h_ms": 1.0}], wall_s=1.0)


def test_time_trt_drops_warmup_records_and_summarizes_the_rest():
    class FakeRunner:
        """Stands in for a TensorRT runner exposing per-phase CUDA-event timings."""

        def __init__(self) -> None:
            self.calls = 0

        def infer_timed(self) -> dict[str, float]:
            self.calls += 1
            compute = 100.0 if self.calls <= 2 else float(self.calls)  # two slow warm-up inferences
            return {"h2d_ms": 0.5, "compute_ms": compute, "d2h_ms": 0.25}

    runner = FakeRunner()
    summary = time_trt(runner, warmup=2, iterations=3)
    assert runner.calls == 5
    assert summary.gpu_compute.max_ms == 5.0 and summary.gpu_compute.min_ms == 3.0
    assert summary.latency.mean_ms == pytest.approx(4.0 + 0.75)
    assert summary.enqueue is None
