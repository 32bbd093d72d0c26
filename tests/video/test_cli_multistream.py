"""``trt-panoptic run`` with several sources: per-stream outputs and stats, one-line errors, a failing stream,
Ctrl-C finalizing every output."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from .conftest import read_all, synth_frame, write_clip
from .test_cli_run import FAKE_CLI, _assert_one_line_error, _env, _main
from .test_multistream import FailingSource


@pytest.fixture
def mixed(tmp_path: Path) -> list[Path]:
    """Two clips (12 and 7 frames) and an image folder (9 frames)."""
    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(9):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), synth_frame(i))
    return [write_clip(tmp_path / "a.avi", frames=12), write_clip(tmp_path / "b.avi", frames=7), folder]


def _sources(paths: list[Path]) -> list[str]:
    return [arg for p in paths for arg in ("--source", str(p))]


def test_mixed_sources_write_one_output_per_stream_with_every_frame(mixed, tmp_path: Path, fake_backend,
                                                                      capsys: pytest.CaptureFixture) -> None:
    stats = tmp_path / "stats.json"
    names = ["left", "right", "pics"]
    code, out, err = _main(capsys, "run", *_sources(mixed), *[a for n in names for a in ("--source-name", n)],
                           "--output", str(tmp_path / "out_{stream}.avi"), "--stats", str(stats), "--no-progress")
    assert code == 0, err
    for name, n in zip(names, (12, 7, 9)):
        assert len(read_all(tmp_path / f"out_{name}.avi")) == n  # frames in = frames out, counted in the file
    data = json.loads(stats.read_text())
    assert data["num_streams"] == 3 and data["frames_written"] == 28
    assert [(s["name"], s["frames_read"], s["frames_written"], s["error"]) for s in data["streams"]] == [
        ("left", 12, 12, None), ("right", 7, 7, None), ("pics", 9, 9, None)]
    assert {"p50", "p95", "p99"} <= data["streams"][0]["latency_ms"]["end_to_end"].keys()
    batch = data["batch"]
    assert batch["batch_size"] == 3 and batch["frames"] == 28
    assert batch["occupancy"] == pytest.approx(28 / (3 * batch["batches"]))
    assert "3 streams" in out and "stream 1 (right): 7 frames" in out and "occupancy" in out


def test_an_output_without_stream_is_a_one_line_error(mixed, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _main(capsys, "run", *_sources(mixed[:2]), "--output", str(tmp_path / "out.mp4"))
    _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), "{stream}", "out_{stream}.mp4")
    assert not list(tmp_path.glob("out*"))


@pytest.mark.parametrize("names, words", [
    (["only_one"], ["once per --source (2), got 1"]),
    (["a", "a"], ["'a' twice"]),
    (["ok", "front-left"], ["'front-left'", "letters, digits and _"]),
])
def test_bad_source_names_are_one_line_errors(mixed, capsys: pytest.CaptureFixture, names, words) -> None:
    code, _, err = _main(capsys, "run", *_sources(mixed[:2]), *[a for n in names for a in ("--source-name", n)])
    _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), *words)


def test_shared_outputs_need_no_stream(mixed, tmp_path: Path, fake_backend, capsys: pytest.CaptureFixture) -> None:
    from trt_panoptic.ros2.bags import read_summary, topics

    bag = tmp_path / "results.mcap"
    code, out, err = _main(capsys, "run", *_sources(mixed[:2]), "--output", str(bag), "--output", "none",
                           "--no-progress")
    assert code == 0, err
    counts = {t.topic: t.count for t in topics(read_summary(bag))}
    assert counts["/stream0/trt_panoptic/overlay"] == 12 and counts["/stream1/trt_panoptic/overlay"] == 7
    assert out.count(f"bag: {bag}") == 1 and "(19 frames)" in out


def test_a_failing_source_is_reported_and_the_others_complete(mixed, tmp_path: Path, fake_backend,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture) -> None:
    import trt_panoptic.video.sources as sources

    real_open = sources.open_source
    monkeypatch.setattr(sources, "open_source",
                        lambda spec, **kw: FailingSource(3) if spec == "broken" else real_open(spec, **kw))
    stats = tmp_path / "stats.json"
    code, out, err = _main(capsys, "run", "--source", "broken", *_sources(mixed), "--output",
                           str(tmp_path / "o_{stream}.avi"), "--stats", str(stats), "--no-progress")
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("trt-panoptic run: error: every stream should run to its end, got "
                                                   "1 of 4 failed (stream 0: read error on the failing source)")
    assert [len(read_all(tmp_path / f"o_{i}.avi")) for i in (1, 2, 3)] == [12, 7, 9]
    data = json.loads(stats.read_text())
    assert data["streams"][0]["error"] == "read error on the failing source"
    assert data["streams"][0]["stopped_by"] == "error" and [s["error"] for s in data["streams"][1:]] == [None] * 3


def test_sigint_finalizes_every_output(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"c{i}.avi", frames=45) for i in range(2)]
    folder = tmp_path / "folder"
    folder.mkdir()
    for i in range(45):
        cv2.imwrite(str(folder / f"f{i:03d}.png"), synth_frame(i))
    stats = tmp_path / "stats.json"
    cmd = [sys.executable, str(FAKE_CLI), "run", *_sources([*clips, folder]), "--output",
           str(tmp_path / "out_{stream}.mp4"), "--output", str(tmp_path / "all.mcap"), "--stats", str(stats),
           "--no-progress"]
    # 45 frames per stream, 3 streams × 0.03 s per batch: still running when signalled
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(FAKE_DELAY_S="0.03"))
    partials = [tmp_path / f"out_{i}.partial.mp4" for i in range(3)]
    deadline = time.monotonic() + 30
    while not all(p.exists() for p in partials) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped by SIGINT" in stdout
    data = json.loads(stats.read_text())
    assert data["stopped_by"] == "signal:SIGINT"
    for i, stream in enumerate(data["streams"]):
        frames = read_all(tmp_path / f"out_{i}.mp4")
        assert 0 < len(frames) == stream["frames_written"] < 45
    from trt_panoptic.ros2.bags import read_summary, topics

    counts = {t.topic: t.count for t in topics(read_summary(tmp_path / "all.mcap"))}
    assert [counts[f"/stream{i}/trt_panoptic/overlay"] for i in range(3)] == [s["frames_written"] for s in data["streams"]]
    assert not list(tmp_path.glob("*partial*"))


def test_threads_with_another_backend_is_a_one_line_error(mixed, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _main(capsys, "run", *_sources(mixed[:2]), "--threads", "1", "--backend", "torch")
    _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), "--threads", "onnxruntime")
