"""Test doubles for the video pipeline: small clips written with OpenCV, and fake predictors."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from trt_panoptic.runtime.result import PanopticResult

SIZE = 128
CODE_BLOCK = 32  # the top-left CODE_BLOCK² square's grey level encodes the frame index


def code_of(index: int) -> int:
    """Grey level written into frame ``index``'s code block (distinct for index < 50)."""
    return 5 + 5 * index


def index_of(image: np.ndarray) -> int:
    """Frame index read back from a (possibly lossy-compressed) frame's code block."""
    level = float(image[4:CODE_BLOCK - 4, 4:CODE_BLOCK - 4].mean())
    return int(round((level - 5) / 5))


def synth_frame(index: int, size: int = SIZE) -> np.ndarray:
    """BGR frame: blue 'sky' over grey 'road', a white disc moving right, index code top-left."""
    img = np.zeros((size, size, 3), np.uint8)
    img[: size // 2] = (200, 120, 60)
    img[size // 2:] = (90, 90, 90)
    cx = 40 + (2 * index) % (size - 60)
    cv2.circle(img, (cx, size // 2 + 20), 12, (255, 255, 255), -1)
    img[:CODE_BLOCK, :CODE_BLOCK] = code_of(index)
    return img


def write_clip(path: Path, frames: int = 30, fps: float = 25.0, fourcc: str = "MJPG") -> Path:
    """Write ``frames`` synthetic frames to ``path`` with OpenCV's VideoWriter."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (SIZE, SIZE))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(synth_frame(i))
    writer.release()
    return path


def read_all(path: Path) -> list[np.ndarray]:
    """Every frame OpenCV decodes from ``path``."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    return frames


class FakePredictor:
    """A fast stand-in for a backend: sky/road stuff by row, the bright disc as one 'disc' instance.

    Records the code of every frame it saw, so tests can check which frames reached inference.
    """

    backend = "fake"
    thing_classes = ["disc", "box", "triangle"]
    stuff_classes = ["sky", "road", "grass", "wall"]
    thing_ids: list[int] = []  # dataset ids 1..T, T+1..T+S
    stuff_ids: list[int] = []
    thread_safe = False
    height = width = None  # each frame at its own size

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.seen: list[int] = []

    def predict(self, image: np.ndarray) -> PanopticResult:
        self.seen.append(index_of(image))
        if self.delay_s:
            time.sleep(self.delay_s)
        h, w = image.shape[:2]
        sem = np.zeros((h, w), np.int32)
        sem[: h // 2] = 1
        sem[h // 2:] = 2
        disc = image.min(axis=2) > 230
        sem[disc] = 0
        panoptic = np.zeros((h, w), np.int32)
        segments: list[dict] = []
        boxes = np.zeros((0, 4), np.float32)
        if disc.any():
            ys, xs = np.nonzero(disc)
            boxes = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
            panoptic[disc] = 1
            segments.append({"id": 1, "isthing": True, "category_id": 0, "score": 0.9, "instance_id": 0})
        for seg_id, channel in ((2, 1), (3, 2)):
            region = (sem == channel) & (panoptic == 0)
            panoptic[region] = seg_id
            segments.append({"id": seg_id, "isthing": False, "category_id": channel, "area": int(region.sum())})
        n = len(boxes)
        return PanopticResult(
            panoptic=panoptic, segments_info=segments, sem_labels=sem, boxes=boxes,
            scores=np.full((n,), 0.9, np.float32), classes=np.zeros((n,), np.int64),
            masks=disc[None] if n else np.zeros((0, h, w), bool),
        )


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A 30-frame 128×128 MJPG .avi at 25 FPS."""
    return write_clip(tmp_path / "clip.avi")


@pytest.fixture
def fake_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process CLI runs get a FakePredictor from create_predictor."""
    import trt_panoptic.runtime

    monkeypatch.setattr(trt_panoptic.runtime, "create_predictor", lambda backend="auto", **_: FakePredictor(),
                        raising=False)
