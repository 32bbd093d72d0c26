"""Latency percentiles and the stats JSON, against hand-computed values."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from trt_panoptic.video.stats import STAGES, LatencyRecorder, PipelineStats


def test_percentiles_match_hand_computed_linear_interpolation() -> None:
    rec = LatencyRecorder()
    for ms in random.Random(3).sample(range(1, 101), 100):  # 1, 2, …, 100 ms in random order
        rec.add(ms / 1000)
    s = rec.summary()
    # linear interpolation at rank q/100·(n−1): p50 → rank 49.5 → 50.5 ms; p95 → 94.05 → 95.05; p99 → 98.01 → 99.01
    assert s["count"] == 100
    assert s["p50"] == pytest.approx(50.5)
    assert s["p95"] == pytest.approx(95.05)
    assert s["p99"] == pytest.approx(99.01)
    assert (s["min"], s["max"], s["mean"]) == pytest.approx((1.0, 100.0, 50.5))


def test_reservoir_bounds_memory_but_keeps_exact_count_mean_min_max() -> None:
    rec = LatencyRecorder(capacity=500, seed=1)
    rng = random.Random(0)
    values = [rng.uniform(0.010, 0.030) for _ in range(20000)]
    for v in values:
        rec.add(v)
    s = rec.summary()
    assert len(rec._sample) == 500
    assert s["count"] == 20000
    assert s["mean"] == pytest.approx(sum(values) / len(values) * 1e3)
    assert s["min"] == pytest.approx(min(values) * 1e3) and s["max"] == pytest.approx(max(values) * 1e3)
    assert s["p50"] == pytest.approx(20.0, abs=1.0)  # uniform(10, 30) ms: median 20 ms


def test_empty_recorder_summary_is_count_zero() -> None:
    assert LatencyRecorder().summary() == {"count": 0}


def test_stats_json_round_trip(tmp_path: Path) -> None:
    stats = PipelineStats(source="clip.mp4", backend="fake", mode="lossless")
    stats.started_at, stats.finished_at = 10.0, 12.0
    stats.frames_written = 50
    stats.record("infer", 0.02)
    path = stats.write_json(tmp_path / "sub" / "stats.json")
    data = json.loads(path.read_text())
    assert data["throughput_fps"] == pytest.approx(25.0)
    assert data["wall_s"] == pytest.approx(2.0)
    assert set(data["latency_ms"]) == set(STAGES)
    assert data["latency_ms"]["infer"]["p50"] == pytest.approx(20.0)
    assert list((tmp_path / "sub").iterdir()) == [path]  # no temp file left behind


def test_stats_name_the_models_input_size() -> None:
    stats = PipelineStats(backend="onnxruntime", input_size="256x256")
    assert stats.to_dict()["input_size"] == "256x256" and "at 256x256" in stats.summary_line()
    assert "at " not in PipelineStats(input_size="frame").summary_line()  # torch at each frame's own size
