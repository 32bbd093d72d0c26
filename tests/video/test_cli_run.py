"""``trt-panoptic run`` as a user runs it: subprocesses, exit codes, one-line errors, Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trt_panoptic.cli.main import main

from .conftest import read_all, write_clip

REPO = Path(__file__).resolve().parents[2]
FAKE_CLI = Path(__file__).with_name("fake_cli.py")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def _cli(*args: str, fake: bool = False, **env: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(FAKE_CLI)] if fake else [sys.executable, "-m", "trt_panoptic.cli.main"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=_env(**env), timeout=60)


def _assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("trt-panoptic run: error: ")
    for word in words:
        assert word in lines[0]


def test_missing_source_is_one_line_error(tmp_path: Path) -> None:
    proc = _cli("run", "--source", str(tmp_path / "nope.mp4"), "--output", str(tmp_path / "out.mp4"))
    _assert_one_line_error(proc, "nope.mp4", "no such file")
    assert not (tmp_path / "out.mp4").exists()


def test_unwritable_output_is_one_line_error(clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    proc = _cli("run", "--source", str(clip), "--output", str(blocker / "out.mp4"))
    _assert_one_line_error(proc, "a_file", "is a file")


def _main(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_unwritable_stats_is_one_line_error(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    code, _, err = _main(capsys, "run", "--source", str(clip), "--stats", str(blocker / "stats.json"))
    _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), "--stats")


def test_malformed_device_is_one_line_error(clip: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _main(capsys, "run", "--source", str(clip), "--device", "gpu0")
    assert code == 2 and "--device should be cpu, cuda or cuda:N, got 'gpu0'" in err


def test_undecodable_video_is_one_line_error(tmp_path: Path) -> None:
    """A subprocess: FFmpeg's own 'moov atom not found' on fd 2 would make this more than one line."""
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(4096))
    proc = _cli("run", "--source", str(junk))
    _assert_one_line_error(proc, "junk.mp4")


def test_run_writes_video_and_stats(clip: Path, tmp_path: Path, fake_backend: None,
                                    capsys: pytest.CaptureFixture) -> None:
    out, stats = tmp_path / "out.avi", tmp_path / "stats.json"
    code, stdout, err = _main(capsys, "run", "--source", str(clip), "--output", str(out), "--stats", str(stats),
                              "--no-progress")
    assert code == 0, err
    assert len(read_all(out)) == 30
    data = json.loads(stats.read_text())
    assert data["frames_written"] == 30 and data["mode"] == "lossless" and data["backend"] == "fake"
    for stage in ("capture", "infer", "render", "write", "end_to_end"):
        assert {"p50", "p95", "p99"} <= data["latency_ms"][stage].keys()
    assert str(out) in stdout and "FPS" in stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_leaves_a_readable_video(tmp_path: Path, sig: signal.Signals) -> None:
    clip = write_clip(tmp_path / "long.avi", frames=45)
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    cmd = [sys.executable, str(FAKE_CLI), "run", "--source", str(clip), "--output", str(out),
           "--stats", str(stats), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(FAKE_DELAY_S="0.1"))  # 45 frames × 0.1 s: still running when signalled
    partial = tmp_path / "out.partial.mp4"
    deadline = time.monotonic() + 30
    while not partial.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    frames = read_all(out)
    written = json.loads(stats.read_text())["frames_written"]
    assert 0 < len(frames) == written < 45
    assert not partial.exists()
    assert "stopped by" in stdout


def test_output_over_the_source_is_refused(clip: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _main(capsys, "run", "--source", str(clip), "--output", str(clip))
    _assert_one_line_error(subprocess.CompletedProcess([], code, "", err), "should differ from --source")
    assert len(read_all(clip)) == 30
