"""Synthetic video: moving, occluding shapes; mp4v/MJPG; deterministic."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from trt_panoptic.data.synthetic_video import render_video_frames, write_synthetic_video
from trt_panoptic.errors import TrtPanopticError


def test_frames_move_keep_ids_and_match_their_ground_truth():
    frames = list(render_video_frames(20, (64, 80), seed=2))
    assert len(frames) == 20
    first, last = frames[0], frames[-1]
    assert first[0].shape == (64, 80, 3) and first[0].dtype == np.uint8
    thing_ids = lambda segs: {s["id"] for s in segs if s["category_id"] <= 3}
    assert thing_ids(first[2]) and thing_ids(first[2]) & thing_ids(last[2])  # the same tracks over time
    assert not np.array_equal(first[1], last[1])  # things moved
    for _, pan, segs in frames:
        assert {s["id"] for s in segs} == set(np.unique(pan).tolist()) - {0}


def test_same_seed_same_frames():
    a = [f for f, _, _ in render_video_frames(5, (48, 48), seed=9)]
    b = [f for f, _, _ in render_video_frames(5, (48, 48), seed=9)]
    c = [f for f, _, _ in render_video_frames(5, (48, 48), seed=10)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_written_clip_reads_back_and_is_deterministic(tmp_path, suffix):
    import cv2

    paths = [write_synthetic_video(tmp_path / f"clip{k}{suffix}", 8, (64, 96), seed=1, fps=10, progress=False) for k in range(2)]
    assert hashlib.sha256(paths[0].read_bytes()).digest() == hashlib.sha256(paths[1].read_bytes()).digest()
    cap = cv2.VideoCapture(str(paths[0]))
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 96 and cap.get(cv2.CAP_PROP_FRAME_HEIGHT) == 64
    n = 0
    truth = [f for f, _, _ in render_video_frames(8, (64, 96), seed=1)]
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert np.abs(frame.astype(int) - truth[n]).mean() < 12  # lossy codec, same picture
        n += 1
    assert n == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"clip0{suffix}", f"clip1{suffix}"]  # no temp left
    assert oct(paths[0].stat().st_mode & 0o777) == "0o644"  # not the temp file's 0600


def test_bad_arguments(tmp_path):
    with pytest.raises(TrtPanopticError, match=".mp4 or .avi"):
        write_synthetic_video(tmp_path / "x.mkv", 2, progress=False)
    with pytest.raises(TrtPanopticError, match="--frames"):
        write_synthetic_video(tmp_path / "x.mp4", 0, progress=False)
    (tmp_path / "x.mp4").write_bytes(b"old")
    with pytest.raises(TrtPanopticError, match="--force"):
        write_synthetic_video(tmp_path / "x.mp4", 2, progress=False)
